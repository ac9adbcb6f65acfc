//go:build wasip1 && !keycard_poison

package abi

func poisonScratch() {}
