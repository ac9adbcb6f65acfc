// Package bench holds Keycard's measurements from outside the product:
// tools with their own module, so that what they load or compare with
// never enters the product's dependencies.
package bench
