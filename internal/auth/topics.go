package auth

import (
	"fmt"
	"regexp"
	"strings"
)

// Topics are the TMC topics a client may read through EventService (its
// `topics` in the clients file): exact topic names, prefixes ending in
// "*" (tmall_fuwu_*), or "*" for every topic. The zero value allows
// every topic: a client without `topics`, and every caller of a server
// without a clients file.
type Topics struct {
	// restricted is set when the client's entry lists topics.
	restricted bool
	exact      map[string]bool
	prefixes   []string
}

var topicPattern = regexp.MustCompile(`^(\*|[A-Za-z0-9_.-]+\*?)$`)

// parseTopics checks a client's topics entry.
func parseTopics(list []string) (Topics, error) {
	if list == nil {
		return Topics{}, nil
	}
	t := Topics{restricted: true, exact: map[string]bool{}}
	for _, p := range list {
		if !topicPattern.MatchString(p) {
			return Topics{}, fmt.Errorf("topic %q: want a topic name, a prefix ending in *, or *", p)
		}
		switch {
		case p == "*":
			return Topics{}, nil
		case strings.HasSuffix(p, "*"):
			t.prefixes = append(t.prefixes, strings.TrimSuffix(p, "*"))
		default:
			t.exact[p] = true
		}
	}
	return t, nil
}

// All reports whether every topic is allowed.
func (t Topics) All() bool { return !t.restricted }

// Allowed reports whether topic may be read.
func (t Topics) Allowed(topic string) bool {
	if !t.restricted || t.exact[topic] {
		return true
	}
	for _, p := range t.prefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

// Names returns the allowed topics when they are a list of exact names
// (no prefix, not all), so that a reader can ask the store for them only;
// ok is false otherwise.
func (t Topics) Names() (names []string, ok bool) {
	if !t.restricted || len(t.prefixes) > 0 {
		return nil, false
	}
	for n := range t.exact {
		names = append(names, n)
	}
	return names, true
}

// Topics returns the topics the named client may read: every topic when
// there is no clients file or no such client (a caller identified by a
// certificate without a clients file), else its entry's.
func (a *Authenticator) Topics(client string) Topics {
	p := a.policy.Load()
	if p == nil || client == "" {
		return Topics{}
	}
	c, ok := p.ByName(client)
	if !ok {
		return Topics{}
	}
	return c.topics
}
