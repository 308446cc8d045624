// Command workflow is the core Aegis workflow: create a session on a repo with a task, answer whatever CC
// asks by a simple policy (question -> first option, permission/bash/plan/trust -> approve), wait for idle,
// print the last assistant message and a transcript summary, delete the session.
//
//	go run ./examples/workflow -address 127.0.0.1:PORT -work-dir DIR -task "BASH(ls)"
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/aegis-dev/aegis/clients/go/aegis"
	v1 "github.com/aegis-dev/aegis/clients/go/aegisv1"
)

func settleByPolicy(ctx context.Context, c *aegis.Client, s *v1.Session, timeout time.Duration) (*v1.Session, error) {
	for i := 0; i < 50; i++ {
		if len(s.GetPendingInteractions()) == 0 {
			return s, nil
		}
		it := s.GetPendingInteractions()[0]
		if q := it.GetQuestion(); q != nil {
			answers := map[string][]string{}
			for _, qq := range q.GetQuestions() {
				answers[qq.GetQuestion()] = []string{qq.GetOptions()[0].GetLabel()}
			}
			fmt.Printf("answering %s: %v\n", it.GetId(), answers)
			r, err := c.Answer(ctx, s.GetId(), it.GetId(), answers, timeout)
			if err != nil {
				return nil, err
			}
			s = r.GetSession()
		} else {
			fmt.Printf("approving %s (%s)\n", it.GetId(), it.GetKind())
			r, err := c.Approve(ctx, s.GetId(), it.GetId(), timeout)
			if err != nil {
				return nil, err
			}
			s = r.GetSession()
		}
		if !s.GetStable() {
			var err error
			if s, err = c.Wait(ctx, s.GetId(), 0, timeout); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("too many interactions")
}

func main() {
	address := flag.String("address", envOr("AEGIS_ADDRESS", aegis.DefaultAddress), "aegis server host:port")
	token := flag.String("token", os.Getenv("AEGIS_TOKEN"), "bearer token")
	workDir := flag.String("work-dir", "", "repository to run CC in")
	task := flag.String("task", "", "the first prompt")
	mode := flag.String("permission-mode", "", `CC permission mode, e.g. "default" ("" = CC's own)`)
	flag.Parse()
	if *workDir == "" || *task == "" {
		log.Fatal("usage: workflow -address HOST:PORT -work-dir DIR -task TEXT")
	}
	abs, _ := filepath.Abs(*workDir)
	ctx := context.Background()
	c, err := aegis.Connect(*address, *token)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateAndWait(ctx, &v1.CreateSessionRequest{WorkDir: abs, Prompt: *task, PermissionMode: *mode}, 5*time.Minute)
	if err != nil {
		log.Fatalf("create: %v (reason %q)", err, aegis.Reason(err))
	}
	fmt.Printf("session %s: %s\n", s.GetId(), s.GetState())
	defer func() {
		if _, err := c.DeleteSession(ctx, s.GetId()); err != nil {
			log.Printf("delete: %v", err)
		}
		fmt.Println("deleted")
	}()
	if s, err = settleByPolicy(ctx, c, s, 5*time.Minute); err != nil {
		log.Printf("settle: %v", err)
		return
	}
	fmt.Printf("final state: %s\n", s.GetState())
	text, _ := c.LastAssistantText(ctx, s.GetId())
	fmt.Printf("last assistant message: %q\n", text)
	entries, err := c.Transcript(ctx, s.GetId())
	if err != nil {
		log.Printf("transcript: %v", err)
		return
	}
	counts := map[string]int{}
	for _, e := range entries {
		counts[e.GetKind().String()]++
	}
	fmt.Printf("transcript: %d entries: %v\n", len(entries), counts)
}

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}
