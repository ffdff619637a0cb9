// W1 on Go's Badger v2, for bench/peers.ts: 64 goroutines each write unique keys
// key_<writer>_<n> with 1 KiB values, one db.Update (one transaction) per write, for a warm-up
// and then the measured duration. Prints one JSON line: {"opsPerSec":..,"ops":..,"errors":..}.
//
// Built against Debian's golang-github-dgraph-io-badger-dev in GOPATH mode (no network):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o /tmp/badger_w1 bench/peers/badger_w1.go
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger"
)

func main() {
	dir := flag.String("dir", "", "empty directory for the database")
	seconds := flag.Float64("seconds", 5, "measured duration")
	syncWrites := flag.Bool("sync", false, "Options.SyncWrites")
	writers := flag.Int("writers", 64, "concurrent goroutines")
	valueSize := flag.Int("value", 1024, "value size in bytes")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "-dir is required")
		os.Exit(2)
	}
	db, err := badger.Open(badger.DefaultOptions(*dir).WithSyncWrites(*syncWrites).WithLogger(nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	value := make([]byte, *valueSize)
	for i := range value {
		value[i] = 7
	}
	counters := make([]int, *writers)
	// phase runs every writer until the deadline; the same shape as the TypeScript driver.
	phase := func(d time.Duration) (int64, int64, float64) {
		var ops, errs int64
		var stop int32
		start := time.Now()
		deadline := start.Add(d)
		var wg sync.WaitGroup
		for w := 0; w < *writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for atomic.LoadInt32(&stop) == 0 {
					key := []byte(fmt.Sprintf("key_%d_%d", w, counters[w]))
					counters[w]++
					err := db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
					if err != nil {
						atomic.AddInt64(&errs, 1)
					} else {
						atomic.AddInt64(&ops, 1)
					}
					if !time.Now().Before(deadline) {
						atomic.StoreInt32(&stop, 1)
					}
				}
			}(w)
		}
		wg.Wait()
		return ops, errs, time.Since(start).Seconds()
	}
	measured := time.Duration(*seconds * float64(time.Second))
	warm := measured / 4
	if warm > time.Second {
		warm = time.Second
	}
	phase(warm)
	ops, errs, secs := phase(measured)
	if err := db.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]interface{}{
		"opsPerSec": int64(float64(ops) / secs),
		"ops":       ops,
		"errors":    errs,
	})
	fmt.Println(string(out))
}
