// record_usage sends one usage event to a usage-ledger server and prints its verdict:
//
//	go run ./examples/record_usage -url http://127.0.0.1:8080 -key KEY -tenant acme \
//	    -meter tokens -quantity 1500
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	usageledger "github.com/usage-ledger/usage-ledger/producers/go"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "the ledger's query API")
	key := flag.String("key", os.Getenv("UL_API_KEY"), "API key (default $UL_API_KEY)")
	tenant := flag.String("tenant", "acme", "tenant id")
	meter := flag.String("meter", "tokens", "meter")
	quantity := flag.String("quantity", "1", "quantity, an exact decimal")
	idempotencyKey := flag.String("idempotency-key", "", "idempotency key (default: a new UUIDv7)")
	flag.Parse()

	client, err := usageledger.NewClient(usageledger.Config{BaseURL: *url, APIKey: *key})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer client.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pending, err := client.Record(ctx, usageledger.Event{
		TenantID:       *tenant,
		Meter:          *meter,
		Quantity:       *quantity,
		IdempotencyKey: *idempotencyKey,
		Properties:     map[string]any{"source": "record_usage"},
	})
	if err != nil { // *usageledger.InvalidEventError, ErrQueueFull or ErrClosed: nothing was sent
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	verdict, err := pending.Wait(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "not confirmed (send it again with the same key):", err)
		os.Exit(1)
	}
	fmt.Printf("%s %s (key %s)\n", verdict.Status, verdict.TenantID, verdict.IdempotencyKey)
}
