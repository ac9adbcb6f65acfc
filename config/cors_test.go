package config

import "testing"

func TestCheckOrigin(t *testing.T) {
	for o, want := range map[string]string{
		"*":                         "",
		"https://shop.example":      "",
		"https://*.shop.example":    "",
		"http://127.0.0.1:8080":     "",
		"https://[::1]:8443":        "",
		"https://shop.example/":     `origin "https://shop.example/": only scheme, host and port; a wildcard only as the first label (*.)`,
		"https://a.*.example":       `origin "https://a.*.example": only scheme, host and port; a wildcard only as the first label (*.)`,
		"https://*":                 `origin "https://*": only scheme, host and port; a wildcard only as the first label (*.)`,
		"shop.example":              `origin "shop.example": must be http:// or https:// and a host, as browsers send it`,
		"ftp://shop.example":        `origin "ftp://shop.example": must be http:// or https:// and a host, as browsers send it`,
		"https://Shop.example":      `origin "https://Shop.example": browsers send origins in lower case`,
		"https://user@shop.example": `origin "https://user@shop.example": only scheme, host and port; a wildcard only as the first label (*.)`,
		"https://shop.example:x":    `origin "https://shop.example:x": not a host[:port]`,
		"null":                      `origin "null": must be http:// or https:// and a host, as browsers send it`,
	} {
		got := ""
		if err := CheckOrigin(o); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: %q, want %q", o, got, want)
		}
	}
}
