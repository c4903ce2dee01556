package auth

import (
	"slices"
	"testing"
)

func TestTopics(t *testing.T) {
	p, err := ParsePolicy([]byte(`clients:
  - name: all
    cert_sans: [a]
    allow: ['*']
  - name: star
    cert_sans: [s]
    allow: ['*']
    topics: ['*']
  - name: fuwu
    cert_sans: [f]
    allow: ['*']
    topics: ['tmall_fuwu_*', tmall_servicecenter_TaskUpdate]
  - name: exact
    cert_sans: [e]
    allow: ['*']
    topics: [tmall_fuwu_WorkcardInfo, tmall_fuwu_WorkcardStatusUpdate]
`))
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Policy: p})
	tests := []struct {
		client, topic string
		want          bool
	}{
		{"all", "anything", true},
		{"star", "anything", true},
		{"unknown", "anything", true},
		{"", "anything", true},
		{"fuwu", "tmall_fuwu_WorkcardInfo", true},
		{"fuwu", "tmall_servicecenter_TaskUpdate", true},
		{"fuwu", "tmall_servicecenter_TaskUpdateX", false},
		{"fuwu", "taobao_trade_TradeCreate", false},
		{"exact", "tmall_fuwu_WorkcardInfo", true},
		{"exact", "tmall_fuwu_WorkcardContract", false},
	}
	for _, tt := range tests {
		if got := a.Topics(tt.client).Allowed(tt.topic); got != tt.want {
			t.Errorf("client %q topic %q: allowed %v, want %v", tt.client, tt.topic, got, tt.want)
		}
	}
	names, ok := a.Topics("exact").Names()
	slices.Sort(names)
	if !ok || !slices.Equal(names, []string{"tmall_fuwu_WorkcardInfo", "tmall_fuwu_WorkcardStatusUpdate"}) {
		t.Errorf("exact: Names() = %v %v", names, ok)
	}
	for _, c := range []string{"all", "fuwu"} {
		if _, ok := a.Topics(c).Names(); ok {
			t.Errorf("%s: Names() ok, want not a list of names", c)
		}
	}
	if !a.Topics("star").All() || a.Topics("fuwu").All() {
		t.Error("All(): star should be all, fuwu not")
	}
	if !New(Options{}).Topics("x").All() {
		t.Error("no clients file: want every topic")
	}
}
