package mt5

import (
	"errors"
	"testing"

	"github.com/brokerdesk/brokerdesk/modules/trading"
	"github.com/brokerdesk/brokerdesk/modules/trading/mt5/mt5fake"
)

func TestRetcodeTable(t *testing.T) {
	t.Parallel()
	for kind, codes := range map[error][]int{
		trading.ErrNotFound:          {13, 1001},
		trading.ErrAlreadyExists:     {17, 3004},
		trading.ErrInvalidRequest:    {3, 4, 1002, 3002, 3003, 3006, 3008, 3010, 10013, 99999},
		trading.ErrInsufficientFunds: {4005, 10019},
		trading.ErrRateLimited:       {12},
		trading.ErrUnavailable:       {2, 7, 9, 10, 11, 15},
		trading.ErrAuthFailed:        {8, 1008, 1012},
	} {
		for _, code := range codes {
			pe := retcodeError("op", code, "text of the server")
			if !errors.Is(pe, kind) {
				t.Errorf("retcode %d is %v, want %v", code, pe.Kind, kind)
			}
			if pe.Platform != trading.PlatformMT5 || pe.Op != "op" || pe.Message != "text of the server" {
				t.Errorf("retcode %d lost its context: %+v", code, pe)
			}
		}
	}
}

func TestRetcodeReachesTheCallerWithCodeAndText(t *testing.T) {
	t.Parallel()
	f := mt5fake.New(t, mt5fake.Options{})
	c := newTestConnector(t, f, nil)
	a, err := c.CreateAccount(testCtx(t), newAccount(`real\standard`))
	if err != nil {
		t.Fatal(err)
	}
	req := newAccount(`real\standard`)
	req.Login = a.Login
	_, err = c.CreateAccount(testCtx(t), req)
	pe := requireKind(t, err, trading.ErrAlreadyExists)
	if pe.Code != "3004" || pe.Message != "User exists" || pe.Op != "create_account" {
		t.Errorf("got %+v", pe)
	}
	pe = requireKind(t, c.ResetPassword(testCtx(t), a.Login, trading.PasswordMain, "weakpass"), trading.ErrInvalidRequest)
	if pe.Code != "3006" {
		t.Errorf("got %+v", pe)
	}
}

func TestParseRetcode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]struct {
		code int
		text string
	}{
		"0 Done":             {0, "Done"},
		"13 Not found":       {13, "Not found"},
		" 10019 No money  ":  {10019, "No money"},
		"1":                  {1, ""},
		"3004 User  exists ": {3004, "User  exists"},
	} {
		code, text, err := parseRetcode(in)
		if err != nil || code != want.code || text != want.text {
			t.Errorf("parseRetcode(%q) = %d %q %v", in, code, text, err)
		}
	}
	for _, bad := range []string{"", "Done", "-1 x", "1x Done", "1234567890 big", " "} {
		if _, _, err := parseRetcode(bad); err == nil {
			t.Errorf("parseRetcode(%q) accepted", bad)
		}
	}
}

func TestEnvelopeIsCaseSensitiveAndTakesStringsOrNumbers(t *testing.T) {
	t.Parallel()
	env, err := parseEnvelope([]byte(`{"retcode":"0 Done","answer":{"Balance":"1.50","balance":"999"},"srv_rand":"ab"}`))
	if err != nil || env.Code != 0 || env.SrvRand != "ab" {
		t.Fatalf("%+v %v", env, err)
	}
	acc, err := parseAccount(env.Answer)
	if err != nil || !acc.Balance.Equal(dec("1.5")) {
		t.Errorf("Balance %s %v: a lower-case key must not count", acc.Balance, err)
	}
	if _, err := parseEnvelope([]byte(`{"Retcode":"0 Done"}`)); err == nil {
		t.Errorf("an envelope without the exact key retcode was accepted")
	}
	for _, in := range []string{`{"Balance":"26000.00"}`, `{"Balance":26000.00}`, `{"Balance":2.6e4}`} {
		acc, err := parseAccount([]byte(in))
		if err != nil || !acc.Balance.Equal(dec("26000")) {
			t.Errorf("%s: %s %v", in, acc.Balance, err)
		}
	}
	for _, bad := range []string{`{"Balance":"1e999999999"}`, `{"Balance":"NaN"}`, `{"Balance":true}`, `{"Balance":{}}`, `{"Balance":"1,5"}`} {
		if _, err := parseAccount([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestGroupNamesKeepTheirBackslashes(t *testing.T) {
	t.Parallel()
	u, err := parseUser([]byte(`{"Login":"7","Group":"real\\forex\\usd","Name":"\u00c5sa"}`))
	if err != nil || u.Group != `real\forex\usd` || u.Name != "Åsa" {
		t.Fatalf("%+v %v", u, err)
	}
}
