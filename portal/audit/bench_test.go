package audit

import (
	"encoding/json"
	"testing"
	"time"

	"tzportal/portal"
)

// BenchmarkSeal measures the keyed hash of one audit entry (every write pays it).
func BenchmarkSeal(b *testing.B) {
	l := New(make([]byte, 32), time.Now)
	e := portal.AuditEntry{Seq: 123456, At: time.Now().UTC(), Actor: "user:42", Role: "street_clerk", Division: "321202001",
		Action: "case.approve", Object: "case:TZRP20261130000123", Result: "ok", IP: "10.1.2.3",
		Detail: json.RawMessage(`{"from":"reviewing","to":"approved","version":6}`), PrevHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	for b.Loop() {
		if l.seal(e) == "" {
			b.Fatal("empty")
		}
	}
}
