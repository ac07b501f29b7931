package withdrawals_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// BenchmarkRequestToHold measures a withdrawal request (the policy gate, the hold under the wallet's lock, the
// checks, the row, the event and the audit, in one transaction) with 32 requests at once: all on one hot wallet,
// and spread over 64 wallets. Run: go test -run XXX -bench RequestToHold ./modules/withdrawals/
func BenchmarkRequestToHold(b *testing.B) {
	for _, wallets := range []int{1, 64} {
		b.Run(map[int]string{1: "one_wallet", 64: "64_wallets"}[wallets], func(b *testing.B) {
			w := setup(b)
			ids := make([]uuid.UUID, wallets)
			for i := range ids {
				ids[i] = w.client(b, clients.StatusKYCApproved, "")
				w.fund(b, ids[i], 1_000_000_000_00)
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 32)
			for i := range b.N {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					if _, err := w.svc.Request(context.Background(), w.ten, ids[i%wallets], uuid.Nil, toBank); err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "requests/s")
		})
	}
}
