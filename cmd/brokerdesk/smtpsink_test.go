package main

import (
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// smtpSink is an SMTP server that accepts every message and keeps only which deposit references each carried: for
// tests that send thousands of receipts, which would crowd the shared Mailpit (it keeps the newest 500 messages,
// so other tests' emails would vanish before they read them).
type smtpSink struct {
	l  net.Listener
	mu sync.Mutex
	// messages is how many messages were accepted; refs how many messages named each UUID.
	messages int
	refs     map[string]int
}

func startSMTPSink(t testing.TB) *smtpSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{l: l, refs: map[string]int{}}
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); conns.Wait() })
	return s
}

func (s *smtpSink) addr() string { return s.l.Addr().String() }

// serve speaks just enough SMTP for net/smtp's client: no extensions, so no STARTTLS and no AUTH.
func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	if tp.PrintfLine("220 sink ESMTP") != nil {
		return
	}
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO", "HELO", "MAIL", "RCPT", "RSET", "NOOP":
			err = tp.PrintfLine("250 ok")
		case "DATA":
			if err = tp.PrintfLine("354 end with <CRLF>.<CRLF>"); err != nil {
				return
			}
			var body []byte
			if body, err = tp.ReadDotBytes(); err != nil {
				return
			}
			s.record(body)
			err = tp.PrintfLine("250 ok")
		case "QUIT":
			_ = tp.PrintfLine("221 bye")
			return
		default:
			err = tp.PrintfLine("502 not implemented")
		}
		if err != nil {
			return
		}
	}
}

var sinkUUID = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// record counts the message and each UUID it names once (its text and HTML parts both carry the reference).
func (s *smtpSink) record(body []byte) {
	text := strings.ReplaceAll(string(body), "=\n", "") // quoted-printable soft line breaks (ReadDotBytes gives \n)
	seen := map[string]bool{}
	for _, id := range sinkUUID.FindAllString(text, -1) {
		seen[id] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages++
	for id := range seen {
		s.refs[id]++
	}
}

// receipts reports how many messages arrived, how many of the given references were named by at least one, and
// how many by more than one.
func (s *smtpSink) receipts(refs []string) (messages, reached, twice int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		switch n := s.refs[r]; {
		case n > 1:
			twice++
			reached++
		case n == 1:
			reached++
		}
	}
	return s.messages, reached, twice
}
