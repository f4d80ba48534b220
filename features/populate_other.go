//go:build !linux

package features

func populatePages([]byte) {}
