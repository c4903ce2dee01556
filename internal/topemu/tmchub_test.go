package topemu

import (
	"testing"
	"time"
)

// BenchmarkTMCHubDeliver is one message through the hub (publish, next,
// confirm) while a connection holds many unconfirmed messages, as when
// servicecenterd's consumer trails the emulator's AssignWorker messages
// under load: the cost of a delivery must not grow with what is in flight.
func BenchmarkTMCHubDeliver(b *testing.B) {
	for _, bm := range []struct {
		name     string
		inFlight int
	}{{"in-flight-10", 10}, {"in-flight-10000", 9999}} {
		b.Run(bm.name, func(b *testing.B) {
			h := newTMCHub(time.Now, TMCSettings{RedeliveryTimeout: Duration(time.Hour), Window: DefaultTMCWindow})
			c := &tmcConn{group: DefaultTMCGroup}
			h.attach(c)
			done := make(chan struct{})
			var held []int64
			for range bm.inFlight {
				if _, err := h.publish(TMCMessage{Topic: "t"}); err != nil {
					b.Fatal(err)
				}
				rec, _, _, err := h.next(done, c)
				if err != nil {
					b.Fatal(err)
				}
				held = append(held, rec.ID)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.publish(TMCMessage{Topic: "t"}); err != nil {
					b.Fatal(err)
				}
				rec, _, _, err := h.next(done, c)
				if err != nil {
					b.Fatal(err)
				}
				// Confirm the oldest held, keep the new one: in flight stays the same.
				h.confirm(c, held[0])
				held = append(held[1:], rec.ID)
			}
			if got := h.status().Groups[0].InFlight; got != bm.inFlight {
				b.Fatalf("in flight = %d, want %d", got, bm.inFlight)
			}
		})
	}
}
