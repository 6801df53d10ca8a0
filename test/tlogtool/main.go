// Command tlogtool checks edgeledger checkpoints and proofs with Go's
// reference transparency-log packages and nothing else of ours: signed notes
// with golang.org/x/mod/sumdb/note, RFC 6962/9162 hashing and proofs with
// golang.org/x/mod/sumdb/tlog. test/tlog_tooling_test.ts builds and runs it,
// to hold DESIGN §2's claim that a checkpoint "makes the log verifiable with
// ordinary transparency-log tooling".
//
// Build, offline, on Debian bookworm (no module download: GOPATH mode over
// the Debian package's sources):
//
//	apt-get install -y --no-install-recommends golang-go golang-golang-x-mod-dev
//	GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOCACHE="$(mktemp -d)" \
//	  go build -o /tmp/tlogtool test/tlogtool/main.go
//
// Input, one JSON object on stdin:
//
//	{
//	  "verifierKeys": ["site-a+1234abcd+AQ..."],  // GET /v1/sites, verifierKey
//	  "quorum": 2,                                 // distinct sites that must sign
//	  "origin": "edgeledger.local/demo",           // optional: the expected origin line
//	  "old": "<signed note>", "new": "<signed note>", // GET /v1/checkpoint, twice
//	  "consistency": ["<hex>"],                    // GET /v1/consistency?from=<old size>&to=<new size>
//	  "inclusions": [{"leaf": "<base64url leaf data>", "logIndex": 3, "treeSize": 9, "proof": ["<hex>"]}]
//	}
//
// Each inclusion is checked against the checkpoint (old or new) whose tree
// size is its treeSize. Output, on stdout: a JSON verdict with "ok" and, for
// what failed, "errors". Exit status 0 when everything verified, 1 when
// anything did not, 2 when the input could not be read.
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type inclusion struct {
	Leaf     string   `json:"leaf"`
	LogIndex int64    `json:"logIndex"`
	TreeSize int64    `json:"treeSize"`
	Proof    []string `json:"proof"`
}

type input struct {
	VerifierKeys []string    `json:"verifierKeys"`
	Quorum       int         `json:"quorum"`
	Origin       *string     `json:"origin"`
	Old          string      `json:"old"`
	New          string      `json:"new"`
	Consistency  []string    `json:"consistency"`
	Inclusions   []inclusion `json:"inclusions"`
}

// checkpoint is the body of a C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint).
type checkpoint struct {
	Origin     string   `json:"origin"`
	Size       int64    `json:"size"`
	Root       string   `json:"root"`
	Extensions []string `json:"extensions"`
	// Signers are the names of the keys whose signatures note.Open verified.
	Signers []string `json:"signers"`
	// Unverified are the names on signature lines from keys not in the set.
	Unverified []string `json:"unverified"`
	hash       tlog.Hash
}

type inclusionVerdict struct {
	LogIndex int64  `json:"logIndex"`
	TreeSize int64  `json:"treeSize"`
	LeafHash string `json:"leafHash,omitempty"`
	Error    string `json:"error,omitempty"`
}

type verdict struct {
	OK          bool               `json:"ok"`
	Old         *checkpoint        `json:"old,omitempty"`
	New         *checkpoint        `json:"new,omitempty"`
	Consistency string             `json:"consistency,omitempty"`
	Inclusions  []inclusionVerdict `json:"inclusions"`
	Errors      []string           `json:"errors"`
}

var decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)
var hashHexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// parseCheckpoint parses a checkpoint body: the origin line, the tree size in
// decimal, the root hash in standard base64, then any extension lines, each
// line non-empty and ended by a newline. (tlog.ParseTree wants go.sum's
// "go.sum database tree" first line, so it cannot read other origins.)
func parseCheckpoint(text string) (*checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("checkpoint does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint has %d lines, not at least 3 (origin, size, root)", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return nil, fmt.Errorf("checkpoint line %d is empty", i+1)
		}
	}
	if !decimalRE.MatchString(lines[1]) {
		return nil, fmt.Errorf("checkpoint size %q is not a decimal without leading zeros", lines[1])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("checkpoint size %q: %v", lines[1], err)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return nil, fmt.Errorf("checkpoint root %q is not the standard base64 of %d bytes", lines[2], tlog.HashSize)
	}
	cp := &checkpoint{Origin: lines[0], Size: size, Root: lines[2], Extensions: lines[3:]}
	copy(cp.hash[:], raw)
	return cp, nil
}

// openCheckpoint opens a signed note with note.Open against the verifiers,
// requires signatures from at least quorum distinct key names, and parses
// its text as a checkpoint.
func openCheckpoint(what, msg string, verifiers note.Verifiers, quorum int, origin *string) (*checkpoint, error) {
	n, err := note.Open([]byte(msg), verifiers)
	if err != nil {
		return nil, fmt.Errorf("%s checkpoint: note.Open: %v", what, err)
	}
	signers := []string{}
	seen := map[string]bool{}
	for _, s := range n.Sigs {
		if !seen[s.Name] {
			seen[s.Name] = true
			signers = append(signers, s.Name)
		}
	}
	unverified := []string{}
	for _, s := range n.UnverifiedSigs {
		unverified = append(unverified, s.Name)
	}
	if len(signers) < quorum {
		return nil, fmt.Errorf("%s checkpoint: signed by %d of the sites (%s), below the quorum of %d",
			what, len(signers), strings.Join(signers, ", "), quorum)
	}
	cp, err := parseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%s checkpoint: %v", what, err)
	}
	if origin != nil && cp.Origin != *origin {
		return nil, fmt.Errorf("%s checkpoint: origin %q is not %q", what, cp.Origin, *origin)
	}
	cp.Signers = signers
	cp.Unverified = unverified
	return cp, nil
}

// parseHashes decodes 32-byte hashes written as lowercase hex (DESIGN §2).
func parseHashes(hexes []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(hexes))
	for i, h := range hexes {
		if !hashHexRE.MatchString(h) {
			return nil, fmt.Errorf("proof hash %d %q is not 64 lowercase hex digits", i, h)
		}
		raw, _ := hex.DecodeString(h)
		copy(out[i][:], raw)
	}
	return out, nil
}

func run(in input) verdict {
	v := verdict{Inclusions: []inclusionVerdict{}, Errors: []string{}}
	fail := func(format string, args ...interface{}) {
		v.Errors = append(v.Errors, fmt.Sprintf(format, args...))
	}

	if in.Quorum < 1 {
		fail("quorum %d is not at least 1", in.Quorum)
	}
	verifiers := []note.Verifier{}
	for _, k := range in.VerifierKeys {
		ver, err := note.NewVerifier(k)
		if err != nil {
			fail("verifier key %q: note.NewVerifier: %v", k, err)
			continue
		}
		verifiers = append(verifiers, ver)
	}
	known := note.VerifierList(verifiers...)

	old, err := openCheckpoint("old", in.Old, known, in.Quorum, in.Origin)
	if err != nil {
		fail("%v", err)
	}
	cur, err := openCheckpoint("new", in.New, known, in.Quorum, in.Origin)
	if err != nil {
		fail("%v", err)
	}
	v.Old, v.New = old, cur

	if old != nil && cur != nil {
		if old.Origin != cur.Origin {
			fail("checkpoints have different origins: %q and %q", old.Origin, cur.Origin)
		}
		proof, err := parseHashes(in.Consistency)
		if err != nil {
			fail("consistency proof: %v", err)
		} else if err := tlog.CheckTree(tlog.TreeProof(proof), cur.Size, cur.hash, old.Size, old.hash); err != nil {
			fail("consistency of size %d with size %d: tlog.CheckTree: %v", old.Size, cur.Size, err)
		} else {
			v.Consistency = fmt.Sprintf("size %d is a prefix of size %d", old.Size, cur.Size)
		}
	}

	for _, inc := range in.Inclusions {
		iv := inclusionVerdict{LogIndex: inc.LogIndex, TreeSize: inc.TreeSize}
		var cp *checkpoint
		for _, c := range []*checkpoint{old, cur} {
			if c != nil && c.Size == inc.TreeSize {
				cp = c
			}
		}
		leaf, errLeaf := base64.RawURLEncoding.Strict().DecodeString(inc.Leaf)
		proof, errProof := parseHashes(inc.Proof)
		switch {
		case cp == nil:
			iv.Error = fmt.Sprintf("no verified checkpoint has tree size %d", inc.TreeSize)
		case errLeaf != nil:
			iv.Error = fmt.Sprintf("leaf is not unpadded base64url: %v", errLeaf)
		case errProof != nil:
			iv.Error = errProof.Error()
		default:
			h := tlog.RecordHash(leaf)
			iv.LeafHash = hex.EncodeToString(h[:])
			if err := tlog.CheckRecord(tlog.RecordProof(proof), cp.Size, cp.hash, inc.LogIndex, h); err != nil {
				iv.Error = "tlog.CheckRecord: " + err.Error()
			}
		}
		if iv.Error != "" {
			fail("inclusion of leaf %d in size %d: %s", inc.LogIndex, inc.TreeSize, iv.Error)
		}
		v.Inclusions = append(v.Inclusions, iv)
	}

	v.OK = len(v.Errors) == 0
	return v
}

func main() {
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	var in input
	if err := dec.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "tlogtool: cannot read the input: %v\n", err)
		os.Exit(2)
	}
	v := run(in)
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(out))
	if !v.OK {
		os.Exit(1)
	}
}
