package model

import (
	"cmp"
	"math"
	"slices"
)

// AUC is the area under the ROC curve of scores for binary labels (the
// probability that a random positive scores above a random negative, ties
// counting ½); NaN when one class is empty.
func AUC(scores []float64, labels []bool) float64 { return Rank(scores).AUC(labels) }

// Ranking is scores in order from highest to lowest (ties in index order),
// sorted once for every metric that needs the order.
type Ranking struct {
	scores []float64
	desc   []int
}

// Rank sorts scores once.
func Rank(scores []float64) Ranking { return Ranking{scores: scores, desc: sortedDesc(scores)} }

// AUC is AUC of the ranked scores.
func (r Ranking) AUC(labels []bool) float64 {
	scores, idx, n := r.scores, r.desc, len(r.desc)
	// Ranks count from the lowest score; the sums are of half-integers, so
	// exact whatever the order.
	var rankSum, pos float64
	for i := 0; i < n; {
		j := i
		for j < n && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(2*n-i-j+1) / 2 // mean 1-based ascending rank of the tie group
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += mid
				pos++
			}
		}
		i = j
	}
	neg := float64(n) - pos
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// Brier is the mean squared difference of probabilities and outcomes.
func Brier(p []float64, y []bool) float64 {
	var s float64
	for i := range p {
		d := p[i]
		if y[i] {
			d--
		}
		s += d * d
	}
	return s / float64(len(p))
}

// CalibrationBin is one group of a calibration table.
type CalibrationBin struct {
	Bin       int     `json:"bin"`
	N         int     `json:"n"`
	Predicted float64 `json:"predicted"` // mean predicted probability
	Observed  float64 `json:"observed"`  // share of positives
}

// Calibration sorts by predicted probability and cuts into bins of equal
// size (the last ones one smaller when n does not divide).
func Calibration(p []float64, y []bool, bins int) []CalibrationBin {
	return Rank(p).Calibration(y, bins)
}

// Calibration is Calibration of the ranked scores.
func (r Ranking) Calibration(y []bool, bins int) []CalibrationBin {
	p := r.scores
	idx := slices.Clone(r.desc)
	slices.Reverse(idx)
	out := make([]CalibrationBin, 0, bins)
	for b := 0; b < bins; b++ {
		lo, hi := b*len(idx)/bins, (b+1)*len(idx)/bins
		if hi == lo {
			continue
		}
		cb := CalibrationBin{Bin: b + 1, N: hi - lo}
		for _, i := range idx[lo:hi] {
			cb.Predicted += p[i]
			if y[i] {
				cb.Observed++
			}
		}
		cb.Predicted /= float64(cb.N)
		cb.Observed /= float64(cb.N)
		out = append(out, cb)
	}
	return out
}

// Lift is the positive rate among the top share of scores divided by the
// overall rate.
func Lift(scores []float64, y []bool, share float64) float64 {
	return Rank(scores).Lift(y, share)
}

// Lift is Lift of the ranked scores.
func (r Ranking) Lift(y []bool, share float64) float64 {
	idx := r.desc
	k := int(math.Ceil(share * float64(len(idx))))
	var top, all float64
	for j, i := range idx {
		if y[i] {
			all++
			if j < k {
				top++
			}
		}
	}
	if k == 0 || all == 0 {
		return math.NaN()
	}
	return (top / float64(k)) / (all / float64(len(idx)))
}

func sortedDesc(v []float64) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	// Ties in index order, as a stable sort leaves them (pdqsort with the
	// index as tie-break is several times faster on millions).
	slices.SortFunc(idx, func(a, b int) int {
		if c := cmp.Compare(v[b], v[a]); c != 0 {
			return c
		}
		return a - b
	})
	return idx
}

// ErrorStats are per-customer errors of predicted counts.
type ErrorStats struct {
	MAE, RMSE, Correlation float64
}

// Errors compares predictions with actual values.
func Errors(pred, actual []float64) ErrorStats {
	n := float64(len(pred))
	var ae, se, mp, ma float64
	for i := range pred {
		d := pred[i] - actual[i]
		ae += math.Abs(d)
		se += d * d
		mp += pred[i]
		ma += actual[i]
	}
	mp /= n
	ma /= n
	var cov, vp, va float64
	for i := range pred {
		cov += (pred[i] - mp) * (actual[i] - ma)
		vp += (pred[i] - mp) * (pred[i] - mp)
		va += (actual[i] - ma) * (actual[i] - ma)
	}
	corr := math.NaN()
	if vp > 0 && va > 0 {
		corr = cov / math.Sqrt(vp*va)
	}
	return ErrorStats{MAE: ae / n, RMSE: math.Sqrt(se / n), Correlation: corr}
}
