package client

import "testing"

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:7070", "ftp://h", "http://", "http://h?x=1"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New("http://127.0.0.1:7070/")
	if err != nil || c.base != "http://127.0.0.1:7070" {
		t.Errorf("New: %v, base %q", err, c.base)
	}
}
