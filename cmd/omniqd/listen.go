package main

import (
	"fmt"
	"net"
	"strings"
)

// checkListenPolicy refuses to serve without a token on an address other
// machines can reach, unless insecure says the network is trusted.
func checkListenPolicy(listen, token string, insecure bool) error {
	if token != "" || insecure || isLoopback(listen) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q without a token: anyone who can reach it could run and delete tasks; "+
		"set --token (or OMNIQ_TOKEN), listen on 127.0.0.1, or pass --insecure on a trusted network", listen)
}

// isLoopback reports whether listen ("host:port") binds only the loopback
// interface. An empty host (":7070") binds every interface.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
