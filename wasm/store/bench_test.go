package store_test

import (
	"context"
	"testing"

	"github.com/factlog/factlog/wasm/store"
	"github.com/factlog/factlog/wasm/sync"
)

func BenchmarkImportInOrderQuick(b *testing.B) {
	all := buildLog(b, 10_000, 1)
	batch, _ := sync.Encode(all)
	b.ResetTimer()
	for b.Loop() {
		s := openTest(b, 50)
		if _, err := s.Import(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkImportNoStateQuick(b *testing.B) {
	all := buildLog(b, 10_000, 1)
	batch, _ := sync.Encode(all)
	b.ResetTimer()
	for b.Loop() {
		s, _ := store.Open(context.Background(), store.Options{})
		if _, err := s.Import(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkDecodeQuick(b *testing.B) {
	all := buildLog(b, 10_000, 1)
	batch, _ := sync.Encode(all)
	b.ResetTimer()
	for b.Loop() {
		if _, err := sync.Decode(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(all))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
