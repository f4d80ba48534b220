package pipeline

import (
	"bytes"
	"fmt"
	"os"

	"github.com/churnhq/churn/pipeline/ingest"

	"gopkg.in/yaml.v3"

	// The zone database is embedded so --timezone works on machines without tzdata.
	_ "time/tzdata"
)

// Config is the file given with --config (YAML). Its keys are the long
// flag names of the commands; a flag given on the command line wins over
// the file. Unknown keys are an error, so a typo is not silently ignored.
type Config struct {
	Data                 string   `yaml:"data"`
	MaxBadFraction       *float64 `yaml:"max-bad-fraction"`
	Inbox                string   `yaml:"inbox"`
	ingest.SourceOptions `yaml:",inline"`
	// Sources map globs to the column options of their files, so exports
	// of several systems share one inbox (see ingest.SourceRule).
	Sources   []ingest.SourceRule `yaml:"sources"`
	Features  FeaturesConfig      `yaml:"features"`
	Model     ModelConfig         `yaml:"model"`
	Score     ScoreConfig         `yaml:"score"`
	Recommend RecommendConfig     `yaml:"recommend"`
	Exports   ExportsConfig       `yaml:"exports"`
	Checks    DataChecks          `yaml:"checks"`
}

// DataChecks is the checks: section: below which sizes, and after how many
// days without a purchase, the night warns that its data is weak or stale.
// Zero values take the defaults (500 customers, 100 repeat buyers, 30 days).
type DataChecks struct {
	MinCustomers    int `yaml:"min-customers" json:"min_customers"`
	MinRepeatBuyers int `yaml:"min-repeat-buyers" json:"min_repeat_buyers"`
	StaleDays       int `yaml:"stale-days" json:"stale_days"`
	// FailOnStale makes stale data an error (exit 4) instead of a warning,
	// for a cron job that should page someone; the previous run stays.
	FailOnStale bool `yaml:"fail-on-stale" json:"fail_on_stale"`
}

func (c DataChecks) withDefaults() DataChecks {
	if c.MinCustomers <= 0 {
		c.MinCustomers = 500
	}
	if c.MinRepeatBuyers <= 0 {
		c.MinRepeatBuyers = 100
	}
	if c.StaleDays <= 0 {
		c.StaleDays = 30
	}
	return c
}

// ExportsConfig is the exports: section: which forms of the CRM feed to
// write besides its CSV (see ExportFormats).
type ExportsConfig struct {
	Formats []string `yaml:"formats"`
	// Postgres, when present, makes churn run export the feed into a
	// PostgreSQL table as its last step (pgsink; churn export does the same
	// for any run).
	Postgres *PostgresConfig `yaml:"postgres"`
}

// PostgresConfig is exports.postgres: the table the CRM feed goes to. The
// URL may be left out and given as $CHURN_PG_URL, so the password is in
// neither the file nor run.json.
type PostgresConfig struct {
	URL    string `yaml:"url"`
	Schema string `yaml:"schema"`
	Table  string `yaml:"table"`
}

// ModelConfig is the model: section: which model and when to refit.
type ModelConfig struct {
	// Name is bgnbd (default), pareto, mbgnbd, logit or auto (see FitSpec).
	Name string `yaml:"name" json:"name"`
	// BTYD is the purchase model under logit and auto (default bgnbd).
	BTYD string `yaml:"btyd" json:"btyd,omitempty"`
	// LogitL2 is the risk model's L2 penalty (default 1).
	LogitL2 float64 `yaml:"logit-l2" json:"logit_l2,omitempty"`
	// Penalizer is lifetimes' penalizer_coef.
	Penalizer float64 `yaml:"penalizer" json:"penalizer"`
	// Refit is "always" (default) or "auto": churn run reuses the latest
	// model unless it is older than MaxAgeDays or its log-likelihood per
	// customer on the new features has drifted by more than DriftLimit.
	Refit      string  `yaml:"refit" json:"refit"`
	MaxAgeDays int     `yaml:"max-age-days" json:"max_age_days"`
	DriftLimit float64 `yaml:"drift-limit" json:"drift_limit"`
}

// ScoreConfig is the score: section; keys as the flags of churn score.
type ScoreConfig struct {
	Horizon      string   `yaml:"horizon"`
	CLVMonths    int      `yaml:"clv-months"`
	DiscountRate *float64 `yaml:"discount-rate"`
	Margin       float64  `yaml:"margin"`
	RiskTiers    string   `yaml:"risk-tiers"`
	// TierHysteresis: see night.ScoreOptions (nil = the default, 0.02).
	TierHysteresis *float64 `yaml:"tier-hysteresis"`
	Excel          bool     `yaml:"excel"`
}

// RecommendConfig is the recommend: section; keys as the flags of churn recommend.
type RecommendConfig struct {
	Perks   string `yaml:"perks"`
	Budget  string `yaml:"budget"`
	History string `yaml:"history"`
	Tiers   string `yaml:"tiers"`
	// ContactCost is the cost of one send, for the perks whose catalog row
	// has no contact_cost: one amount, or one per channel
	// ({email: 0.01, sms: 0.08, mail: 0.90}).
	ContactCost ContactCosts `yaml:"contact-cost"`
	// ControlShare is the share of each perk's customers held out (default 0.10).
	ControlShare *float64 `yaml:"control-share"`
}

// ContactCosts are contact costs by channel; "" is the cost of every
// channel not named.
type ContactCosts map[string]float64

// UnmarshalYAML takes one amount or a mapping of channel to amount.
func (c *ContactCosts) UnmarshalYAML(n *yaml.Node) error {
	var v float64
	if n.Kind == yaml.ScalarNode {
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("recommend.contact-cost: want an amount or {email: …, sms: …, mail: …}: %w", err)
		}
		*c = ContactCosts{"": v}
		return nil
	}
	m := map[string]float64{}
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("recommend.contact-cost: want an amount or {email: …, sms: …, mail: …}: %w", err)
	}
	*c = m
	return nil
}

// FeaturesConfig is the features: section of the config file.
type FeaturesConfig struct {
	// Unit of recency and T: week (default) or day.
	Unit string `yaml:"unit"`
	// Timezone of the reporting calendar (as-of dates, days); default UTC.
	Timezone string `yaml:"timezone"`
	// Segments replaces the default RFM segment table: rules in order, the
	// first that matches wins.
	Segments []SegmentRuleConfig `yaml:"segments"`
}

// SegmentRuleConfig is one row of a segment table in the config file:
// score ranges like "4-5" or "1" per letter; empty matches any score.
type SegmentRuleConfig struct {
	Name string `yaml:"name" json:"name"`
	R    string `yaml:"r"`
	F    string `yaml:"f"`
	M    string `yaml:"m"`
	FM   string `yaml:"fm"` // range over the rounded mean of f and m
}

// LoadConfig reads a config file strictly.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}
