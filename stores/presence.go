package stores

import (
	"fmt"
	"time"
)

// Limits of a presence record (Presence.Announce).
const (
	// MaxNodeLen is the longest node name.
	MaxNodeLen = 128
	// MaxInfoLen is the most info bytes a record holds.
	MaxInfoLen = 64 << 10
	// MaxPresenceTTL is the longest ttl; records are meant to be renewed
	// every few seconds.
	MaxPresenceTTL = 24 * time.Hour
)

// CheckNode returns an error unless node is a usable node name: 1 to
// MaxNodeLen bytes of ASCII letters, digits, '.', '_', ':' and '-'. Names
// such as "host-1:8080" or "10.0.0.7:4000" pass; every backend can use one
// as a key or a key suffix after at most escaping '.' and ':'.
func CheckNode(node string) error {
	if node == "" || len(node) > MaxNodeLen {
		return fmt.Errorf("stores: node name %q: want 1 to %d bytes", node, MaxNodeLen)
	}
	for i := 0; i < len(node); i++ {
		c := node[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return fmt.Errorf("stores: node name %q: only letters, digits, '.', '_', ':' and '-' are allowed", node)
		}
	}
	return nil
}

// CheckAnnounce returns an error unless Announce's arguments are within the
// limits every backend accepts: node passes CheckNode, info is at most
// MaxInfoLen bytes and ttl is 1ms to MaxPresenceTTL.
func CheckAnnounce(node string, info []byte, ttl time.Duration) error {
	if err := CheckNode(node); err != nil {
		return err
	}
	if len(info) > MaxInfoLen {
		return fmt.Errorf("stores: node %s: %d bytes of info, more than %d", node, len(info), MaxInfoLen)
	}
	if ttl < time.Millisecond || ttl > MaxPresenceTTL {
		return fmt.Errorf("stores: node %s: ttl %v: want 1ms to %v", node, ttl, MaxPresenceTTL)
	}
	return nil
}
