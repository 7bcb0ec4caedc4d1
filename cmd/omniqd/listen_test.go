package main

import "testing"

func TestListenPolicy(t *testing.T) {
	for _, tc := range []struct {
		listen, token string
		insecure, ok  bool
	}{
		{"127.0.0.1:7070", "", false, true},
		{"[::1]:7070", "", false, true},
		{"localhost:7070", "", false, true},
		{"127.3.4.5:0", "", false, true},
		{"0.0.0.0:7070", "", false, false},
		{":7070", "", false, false},
		{"[::]:7070", "", false, false},
		{"10.0.0.1:7070", "", false, false},
		{"example.com:7070", "", false, false},
		{"0.0.0.0:7070", "t", false, true},
		{"0.0.0.0:7070", "", true, true},
	} {
		err := checkListenPolicy(tc.listen, tc.token, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("listen %q token %q insecure %v: err = %v", tc.listen, tc.token, tc.insecure, err)
		}
	}
}
