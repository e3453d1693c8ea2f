package sqlitestore

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkTrimManyRooms: a retention run over many rooms of one body,
// none expired (the run that happens every minute). Every publish waits
// for whatever part of it holds the writer.
func BenchmarkTrimManyRooms(b *testing.B) {
	for _, rooms := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint("rooms=", rooms), func(b *testing.B) {
			s, err := Open(b.TempDir() + "/relay.db")
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var wg sync.WaitGroup
			wg.Add(rooms)
			body := bytes.Repeat([]byte("x"), 100)
			for i := range rooms {
				s.Append(fmt.Sprint("room-", i), body, func(uint64, error) { wg.Done() })
			}
			wg.Wait()
			cutoff := time.Now().Add(-time.Hour)
			b.ResetTimer()
			for b.Loop() {
				if n, err := s.Trim(context.Background(), cutoff, 0); err != nil || n != 0 {
					b.Fatal(n, err)
				}
			}
		})
	}
}
