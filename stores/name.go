package stores

import "fmt"

// CheckLogName returns an error unless name can stand as it is in the names
// of a log's tables: 1 to maxLen bytes of lowercase ASCII letters, digits and
// underscores, not starting with a digit ([a-z_][a-z0-9_]*). Such a name is
// safe to splice into SQL statements, and no server folds its case. The
// error's text is meant to follow the backend's own sentinel, which it wraps
// the error with.
func CheckLogName(name string, maxLen int) error {
	if name == "" || len(name) > maxLen {
		return fmt.Errorf("%q: want 1 to %d characters", name, maxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("%q: use lowercase letters, digits and underscores, not starting with a digit", name)
		}
	}
	return nil
}
