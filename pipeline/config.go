package pipeline

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	// The zone database is embedded so --timezone works on machines without tzdata.
	_ "time/tzdata"
)

// Config is the file given with --config (YAML). Its keys are the long
// flag names of the commands; a flag given on the command line wins over
// the file. Unknown keys are an error, so a typo is not silently ignored.
type Config struct {
	Data           string   `yaml:"data"`
	MaxBadFraction *float64 `yaml:"max-bad-fraction"`
	Inbox          string   `yaml:"inbox"`
	SourceOptions  `yaml:",inline"`
	Features       FeaturesConfig `yaml:"features"`
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
	Name string `yaml:"name"`
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
