// e2eload drives the Go SDK for tests/e2e/sdk_go.sh: it records -events distinct events for
// the given tenants (one Client and API key each) through -base (the flaky proxy in front of
// `usage-ledger up`), sends every -resend-every'th one again on purpose with the same key, and
// checks every verdict: first sends accepted (or duplicate after a retry of a lost answer),
// resends duplicate. It prints the sums it expects, computed on its own in micro-units:
//
//	{"at": "<timestamp of every event>", "retried": N, "usage": {"tenant": {"meter":
//	{"used": "1.5", "count": 3}}}}
//
// Exit status 1 with the reason on stderr when any event fails or has an unexpected verdict.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"time"

	usageledger "github.com/usage-ledger/usage-ledger/producers/go"
)

type total struct {
	micros int64
	count  int
}

func main() {
	base := flag.String("base", "", "the ledger's base URL (the proxy)")
	tenants := flag.String("tenants", "", "tenant=key,tenant=key,...")
	events := flag.Int("events", 10000, "distinct events")
	resendEvery := flag.Int("resend-every", 20, "send every Nth event a second time")
	seed := flag.Int64("seed", 1, "random seed of the quantities")
	flag.Parse()
	if err := run(*base, *tenants, *events, *resendEvery, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "e2eload:", err)
		os.Exit(1)
	}
}

func run(base, tenantList string, count, resendEvery int, seed int64) error {
	fmt.Fprintf(os.Stderr, "e2eload: seed %d\n", seed)
	var names []string
	clients := map[string]*usageledger.Client{}
	for _, pair := range strings.Split(tenantList, ",") {
		name, key, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("-tenants: %q is not tenant=key", pair)
		}
		client, err := usageledger.NewClient(usageledger.Config{BaseURL: base, APIKey: key})
		if err != nil {
			return err
		}
		names = append(names, name)
		clients[name] = client
	}
	meters := []string{"tokens", "api_calls"}
	at := time.Now().UTC().Truncate(time.Microsecond)
	random := rand.New(rand.NewSource(seed))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	expected := map[string]map[string]*total{}
	var sent []usageledger.Event
	var pendings []*usageledger.Pending
	for i := 0; i < count; i++ {
		micros := random.Int63n(1_000_000_000) + 1 // up to 1000 units, six fraction digits
		event := usageledger.Event{TenantID: names[i%len(names)], Meter: meters[i/len(names)%len(meters)],
			Quantity: usageledger.QuantityFromMicros(micros), Timestamp: at,
			IdempotencyKey: usageledger.NewUUIDv7(),
			Properties:     map[string]any{"model": "m" + fmt.Sprint(i%3), "batch": i / 100}}
		pending, err := clients[event.TenantID].Record(ctx, event)
		if err != nil {
			return fmt.Errorf("Record %d: %w", i, err)
		}
		byMeter := expected[event.TenantID]
		if byMeter == nil {
			byMeter = map[string]*total{}
			expected[event.TenantID] = byMeter
		}
		if byMeter[event.Meter] == nil {
			byMeter[event.Meter] = &total{}
		}
		byMeter[event.Meter].micros += micros
		byMeter[event.Meter].count++
		sent = append(sent, event)
		pendings = append(pendings, pending)
	}
	retried := 0
	for i, pending := range pendings {
		verdict, err := pending.Wait(ctx)
		if err != nil {
			return fmt.Errorf("event %d (%s): %w", i, pending.Key(), err)
		}
		if verdict.Attempts > 1 {
			retried++
		}
		lostAnswer := verdict.Status == usageledger.StatusDuplicate && verdict.Attempts > 1
		if verdict.Status != usageledger.StatusAccepted && !lostAnswer {
			return fmt.Errorf("event %d (%s): %+v, want accepted", i, pending.Key(), verdict)
		}
	}
	if err := resend(ctx, clients, sent, resendEvery); err != nil {
		return err
	}
	for _, client := range clients {
		if err := client.Close(); err != nil {
			return err
		}
	}
	return report(at, retried, expected)
}

// resend sends every Nth event again with Send (synchronous), per tenant, in parallel: each
// must come back duplicate, whatever the proxy drops.
func resend(ctx context.Context, clients map[string]*usageledger.Client, sent []usageledger.Event,
	every int) error {
	byTenant := map[string][]usageledger.Event{}
	for i := 0; i < len(sent); i += every {
		byTenant[sent[i].TenantID] = append(byTenant[sent[i].TenantID], sent[i])
	}
	var wait sync.WaitGroup
	errs := make(chan error, len(byTenant))
	for tenant, events := range byTenant {
		wait.Add(1)
		go func(client *usageledger.Client, events []usageledger.Event) {
			defer wait.Done()
			verdicts, err := client.Send(ctx, events)
			if err != nil {
				errs <- fmt.Errorf("resend: %w", err)
				return
			}
			for i, verdict := range verdicts {
				if verdict.Status != usageledger.StatusDuplicate ||
					verdict.IdempotencyKey != events[i].IdempotencyKey {
					errs <- fmt.Errorf("resend of %s: %+v, want duplicate", events[i].IdempotencyKey, verdict)
					return
				}
			}
		}(clients[tenant], events)
	}
	wait.Wait()
	close(errs)
	return <-errs
}

func report(at time.Time, retried int, expected map[string]map[string]*total) error {
	type meterUsage struct {
		Used  string `json:"used"`
		Count int    `json:"count"`
	}
	usage := map[string]map[string]meterUsage{}
	for tenant, byMeter := range expected {
		usage[tenant] = map[string]meterUsage{}
		for meter, sum := range byMeter {
			usage[tenant][meter] = meterUsage{usageledger.QuantityFromMicros(sum.micros), sum.count}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"at": usageledger.FormatTimestamp(at), "retried": retried, "usage": usage})
}
