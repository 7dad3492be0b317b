// Command syndicate turns articles into Mastodon key-point threads and an
// email digest. See the README for the commands and config.yaml.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // any IANA zone works on machines without zoneinfo

	"github.com/syndicate-bot/syndicate/syndicate/cli"
	"github.com/syndicate-bot/syndicate/syndicate/text"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx: the run finishes the post or
	// message in hand, records it and stops. A second one stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		cancel()
		// Whatever a command is doing, it ends within its grace time: the
		// item in hand finishes (cli.StopTimeout covers it), nothing else
		// may hold the process.
		time.AfterFunc(cli.StopTimeout, func() {
			fmt.Fprintf(os.Stderr, "did not stop within %s of the signal: stopping now\n", cli.StopTimeout)
			os.Exit(130)
		})
		<-signals
		fmt.Fprintln(os.Stderr, "second signal: stopping now")
		os.Exit(130)
	}()
	// SIGUSR1 asks the daemon to run the post job now, SIGUSR2 the digest
	// job (breaking news need not wait for the next tick).
	runNow := make(chan string, 4)
	usr := make(chan os.Signal, 4)
	signal.Notify(usr, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for sig := range usr {
			job := "post"
			if sig == syscall.SIGUSR2 {
				job = "digest"
			}
			select {
			case runNow <- job:
			default: // one request of each is enough
			}
		}
	}()
	err := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now, RunNow: runNow})
	cancel()
	if err != nil {
		// An error may carry a hostile value as others wrote it (pgx names
		// the DSN's user and database as they are): never raw.
		fmt.Fprintln(os.Stderr, "Error:", text.TerminalLines(err.Error()))
	}
	os.Exit(cli.ExitCode(err))
}
