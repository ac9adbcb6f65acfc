package tables

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/internal/policycases"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/internal/mint"
)

// StateScenario is a token-state attack on the example policy, played
// against a real sidecar on Redis: business calls, then requests, each
// with what it must get. Every scenario uses subjects and token ids of
// its own (prefixed by the run's tag), so one scenario's cached answers
// never decide another's requests.
type StateScenario struct {
	Name  string
	Steps []StateStep
}

// StateStep is one step: a business call (Call), or a request (Path).
type StateStep struct {
	Call       string // business endpoint, e.g. /auth/login
	Body       string
	CallStatus int // the call's HTTP status; 0 means 200

	// Wait lets the filter's cached answers (sessions.cache) run out
	// before the request.
	Wait   bool
	Path   string // GET a.shop.example Path
	Token  string
	Status int // 200 when allowed
	Reason string
}

// StateScenarios builds the table. tag makes its ids unique per run;
// now is the real time (the sidecar's clock, not a test's moved one):
// tokens are minted two seconds before it, so that a clear a scenario
// makes comes after their iat.
func StateScenarios(cfg *config.Config, tag string, now time.Time) []StateScenario {
	now = now.Add(-2 * time.Second)
	user := func(n string) string { return tag + "-" + n }
	tok := func(c mint.Claims) string {
		if c.TTL == 0 {
			c.TTL = time.Hour
		}
		s, err := mint.Token(cfg, "login", "", c, now)
		if err != nil {
			panic(err)
		}
		return s
	}
	login := func(u, t string) StateStep {
		return StateStep{Call: "/auth/login", Body: `{"userId":"` + u + `","token":"` + t + `"}`}
	}
	supportRole := func(u string) StateStep {
		return StateStep{Call: "/user/roles", Body: `{"userId":"` + u + `","roles":[{"roleId":"support","perms":[]}],"type":"2","status":"1"}`}
	}
	get := func(path, t string, status int, reason string) StateStep {
		return StateStep{Path: path, Token: t, Status: status, Reason: reason}
	}
	after := func(s StateStep) StateStep { s.Wait = true; return s }

	alice, bob := user("alice"), user("bob")
	aliceTok := tok(mint.Claims{Subject: alice, Level: 1, JTI: tag + "-shared"})
	bobTok := tok(mint.Claims{Subject: bob, Level: 1, JTI: tag + "-shared"})

	carol := user("carol")
	carolTok := tok(mint.Claims{Subject: carol, Level: 1, JTI: tag + "-carol"})
	noSubject := tok(mint.Claims{Level: 1, JTI: tag + "-carol"})

	dave := user("dave")
	daveTok := tok(mint.Claims{Subject: dave, Level: 1, Extra: map[string]any{"JTI": tag + "-upper"}})

	brace := user("brace{x}@example.com")
	braceTok := tok(mint.Claims{Subject: brace, Level: 1, JTI: tag + "-brace"})
	braceOther := tok(mint.Claims{Subject: brace, Level: 1, JTI: tag + "-brace2"})
	longUser := user(strings.Repeat("7", 300))
	longTok := tok(mint.Claims{Subject: longUser, Level: 1, JTI: tag + "-long"})

	erin := user("erin")
	erinRegistered := tok(mint.Claims{Subject: erin, Level: 1, JTI: tag + "-erin1"})
	erinUnregistered := tok(mint.Claims{Subject: erin, Level: 1, JTI: tag + "-erin2"})
	erinNoIat := tok(mint.Claims{Subject: erin, Level: 1, JTI: tag + "-erin3", Extra: map[string]any{"iat": nil}})

	frank := user("frank")
	frankTok := tok(mint.Claims{Subject: frank, Level: 1, JTI: tag + "-frank"})

	return []StateScenario{
		{"a token of another user with the same jti gets none of the first user's roles", []StateStep{
			supportRole(alice), login(alice, aliceTok),
			get("/tickets/7", aliceTok, 200, "ok"),
			get("/tickets/7", bobTok, 403, "missing_role"),
		}},
		{"a JWT without a subject gets no user's state through a token id", []StateStep{
			supportRole(carol), login(carol, carolTok),
			get("/tickets/7", carolTok, 200, "ok"),
			get("/tickets/7", noSubject, 403, "missing_role"),
			get("/auth", noSubject, 200, "ok"),
		}},
		{"an opaque token issued for another service is unknown here", []StateStep{
			{Call: "/auth/getToken", Body: `{"userId":"` + user("gina") + `","serviceId":"blog"}`},
			// the token is the call's answer: RunState sends it
			get("/auth", "", 401, "invalid_token"),
		}},
		{"a token revoked under the name the filter asks about (jti, not JTI)", []StateStep{
			login(dave, daveTok), get("/auth", daveTok, 200, "ok"),
			{Call: "/auth/delToken", Body: `{"token":"` + daveTok + `"}`},
			after(get("/auth", daveTok, 401, "token_revoked")),
		}},
		{"a user whose id has braces can be disabled and revoked", []StateStep{
			login(brace, braceTok), get("/auth", braceTok, 200, "ok"),
			{Call: "/auth/delToken", Body: `{"token":"` + braceTok + `"}`},
			after(get("/auth", braceTok, 401, "token_revoked")),
			{Call: "/user/roles", Body: `{"userId":"` + brace + `","status":"0"}`},
			get("/auth", braceOther, 403, "user_disabled"),
		}},
		{"a user whose id is 300 bytes can be disabled", []StateStep{
			get("/auth", longTok, 200, "ok"),
			{Call: "/user/roles", Body: `{"userId":"` + longUser + `","status":"0"}`},
			after(get("/auth", longTok, 403, "user_disabled")),
		}},
		{"clearToken refuses every token issued before it, registered or not", []StateStep{
			login(erin, erinRegistered),
			get("/auth", erinUnregistered, 200, "ok"),
			get("/auth", erinNoIat, 200, "ok"),
			{Call: "/auth/clearToken", Body: `{"userId":"` + erin + `"}`},
			after(get("/auth", erinRegistered, 401, "token_revoked")),
			get("/auth", erinUnregistered, 401, "token_revoked"),
			get("/auth", erinNoIat, 401, "token_revoked"),
		}},
		{"a login does not make a revoked token active again", []StateStep{
			login(frank, frankTok),
			{Call: "/auth/delToken", Body: `{"token":"` + frankTok + `"}`},
			{Call: "/auth/login", Body: `{"userId":"` + frank + `","token":"` + frankTok + `"}`, CallStatus: http.StatusConflict},
			after(get("/auth", frankTok, 401, "token_revoked")),
		}},
	}
}

// Caller makes a business call to the sidecar with the admin key and
// returns its HTTP status and the envelope's data string.
type Caller func(path, body string) (status int, data string, err error)

// Run plays the scenario: call makes the business calls, target sends
// the requests (GET a.shop.example), wait lets cached answers run out.
// The first step that does not get what it must is the error.
func (s *StateScenario) Run(call Caller, target policycases.Target, wait func()) error {
	issued := ""
	for i, st := range s.Steps {
		if st.Call != "" {
			status, data, err := call(st.Call, st.Body)
			if err != nil {
				return fmt.Errorf("step %d, %s: %w", i, st.Call, err)
			}
			if want := max(st.CallStatus, 200); status != want {
				return fmt.Errorf("step %d, %s: status %d, want %d", i, st.Call, status, want)
			}
			if st.Call == "/auth/getToken" {
				issued = data
			}
			continue
		}
		if st.Wait {
			wait()
		}
		tok := st.Token
		if tok == "" {
			tok = issued
		}
		if tok == "" {
			return errors.New("step " + fmt.Sprint(i) + ": no token")
		}
		o, err := target("GET", "a.shop.example", st.Path, [][2]string{{"authorization", "Bearer " + tok}})
		if err != nil {
			return fmt.Errorf("step %d, GET %s: %w", i, st.Path, err)
		}
		if o.Status != st.Status || st.Status != 200 && o.Reason != st.Reason {
			return fmt.Errorf("step %d, GET %s: got %d %s, want %d %s", i, st.Path, o.Status, o.Reason, st.Status, st.Reason)
		}
	}
	return nil
}
