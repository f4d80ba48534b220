package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/churnhq/churn/datasets"
)

const datasetsExamples = `  churn datasets cdnow --out ./cdnow            # 23,570 customers, 69,659 purchases
  churn datasets cdnow --sample --out ./cdnow   # the papers' 2,357-customer sample
  churn ingest --config ./cdnow/churn.yaml ./cdnow/CDNOW_master.txt
  churn datasets synth --customers 100000 --seed 7 --out ./synth --dirty 0.01
  churn datasets synth --customers 20000 --weeks 80 --campaign 2025-02-03 --out ./synth   # with a campaign history
  churn datasets shop --platform shopify --out ./shop   # a small shop's orders as Shopify exports them, and truth.csv
`

func runDatasets(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "datasets", "cdnow|synth|shop [--out DIR] [flags]", datasetsExamples)
	out := fs.String("out", ".", "directory to write into")
	sample := fs.Bool("sample", false, "cdnow: write the 2,357-customer sample and its published summary")
	var opt datasets.SynthOptions
	fs.IntVar(&opt.Customers, "customers", 1000, "synth: number of customers")
	fs.Uint64Var(&opt.Seed, "seed", 1, "synth: random seed (the same seed writes the same bytes)")
	start := fs.String("start", "2024-01-01", "synth: first day of the observation (YYYY-MM-DD)")
	fs.IntVar(&opt.Weeks, "weeks", 104, "synth: length of the observation in weeks")
	fs.Float64Var(&opt.Dirty, "dirty", 0, "synth: share of rows followed by a bad row (every quarantine kind in turn), listed in dirty.csv")
	fs.Float64Var(&opt.RefundRate, "refunds", 0, "synth: share of orders followed by a partial refund")
	fs.Float64Var(&opt.ZeroRate, "zero", 0, "synth: share of orders with amount 0")
	fs.StringVar(&opt.Currency, "currency", "EUR", "synth: currency code")
	platform := fs.String("platform", "shopify", "shop: the export to write: "+strings.Join(datasets.ShopPlatforms, ", "))
	campaign := fs.String("campaign", "", "synth: send day (YYYY-MM-DD) of a randomised campaign of three perks of perks.csv and a control group; writes campaigns.csv and campaign_truth.csv (true uplift per perk and segment)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("want one data set: cdnow, synth or shop")
	}
	var paths []string
	var err error
	switch fs.Arg(0) {
	case "cdnow":
		paths, err = datasets.WriteCDNOW(*out, *sample)
	case "synth":
		t, perr := time.Parse("2006-01-02", *start)
		if perr != nil {
			return usagef("--start %q: want YYYY-MM-DD", *start)
		}
		if opt.Customers <= 0 || opt.Weeks <= 0 || opt.Dirty < 0 || opt.Dirty > 1 {
			return usagef("--customers and --weeks must be positive, --dirty between 0 and 1")
		}
		opt.Start = t
		if *campaign != "" {
			sent, perr := time.Parse("2006-01-02", *campaign)
			if perr != nil {
				return usagef("--campaign %q: want YYYY-MM-DD", *campaign)
			}
			opt.Campaign = &datasets.CampaignOptions{SentAt: sent}
		}
		paths, err = datasets.WriteSynth(*out, opt)
	case "shop":
		if !slices.Contains(datasets.ShopPlatforms, *platform) {
			return usagef("--platform %q: want one of %s", *platform, strings.Join(datasets.ShopPlatforms, ", "))
		}
		shop := datasets.ShopOptions{Platform: *platform, Seed: opt.Seed}
		if fs.Changed("customers") {
			shop.Customers = opt.Customers
		}
		if fs.Changed("currency") {
			shop.Currency = opt.Currency
		}
		paths, err = datasets.WriteShop(*out, shop)
	default:
		return usagef("unknown data set %q: want cdnow, synth or shop", fs.Arg(0))
	}
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(e.stdout, p)
	}
	return nil
}
