//go:build !linux

package features

func adviseHugePages[T any](s []T) {}
