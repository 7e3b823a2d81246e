package reload_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/reload"
	"github.com/hookguard/hookguard/authz/internal/replay"
)

// A service loads its policy before serving, refuses to start on an invalid
// set, then keeps the policy current from files and SIGHUP.
func Example() {
	a := authz.NewAuthorizer(authz.Config{Nonces: replay.NewMemory(replay.MemoryConfig{Capacity: replay.DefaultCapacity})})
	r := reload.New("/etc/hookguard/policies", a, reload.Config{
		Notify: func(e reload.Event) {
			if e.Err != nil {
				log.Printf("policy refused, keeping the running one: %v", e.Err)
			}
		},
	})
	if err := r.Load(reload.TriggerStart); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			r.Trigger()
		}
	}()
	go r.Run(ctx)
	// ... serve a.Check until ctx is done.
}
