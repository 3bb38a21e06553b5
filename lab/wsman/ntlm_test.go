package wsman

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

// MS-NLMP 4.2.4: NTLMv2 authentication with User "User", UserDom "Domain",
// Password "Password", server challenge 0123456789abcdef, client challenge
// aaaaaaaaaaaaaaaa, time 0 and target info naming Domain and Server.
func TestNTLMv2SpecVector(t *testing.T) {
	if got := hex.EncodeToString(ntowfv2("Password", "User", "Domain")); got != "0c868a403bfd7a93a3001ef22ef02e3f" {
		t.Fatalf("NTOWFv2 = %s", got)
	}
	var info bytes.Buffer
	for _, p := range []struct {
		id uint16
		v  string
	}{{avNbDomainName, "Domain"}, {avNbComputerName, "Server"}} {
		v := EncodeUTF16LE(p.v)
		binary.Write(&info, binary.LittleEndian, p.id)
		binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	info.Write([]byte{0, 0, 0, 0})
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = append(blob, make([]byte, 8)...) // time 0
	blob = append(blob, bytes.Repeat([]byte{0xaa}, 8)...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, info.Bytes()...)
	blob = append(blob, 0, 0, 0, 0)
	challenge := [8]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	proof := hmacMD5(ntowfv2("Password", "User", "Domain"), challenge[:], blob)
	if got := hex.EncodeToString(proof); got != "68cd0ab851e51c96aabc927bebef6a1c" {
		t.Fatalf("NTProofStr = %s", got)
	}
}

// TestNTLMWithGoNTLMSSP runs the exchange against the client library that
// masterzen/winrm uses: its NEGOTIATE, our CHALLENGE, its AUTHENTICATE.
func TestNTLMWithGoNTLMSSP(t *testing.T) {
	now := time.Now()
	neg, err := ntlmssp.NewNegotiateMessage("", "")
	if err != nil {
		t.Fatal(err)
	}
	flags, err := parseNegotiateFlags(neg)
	if err != nil {
		t.Fatal(err)
	}
	sc := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	ch := challengeMessage(flags, "WinHost", sc, now)

	tests := map[string]struct {
		user, password string // what the client sends
		checkWith      string // the password the server has
		challenge      [8]byte
		ok             bool
	}{
		"right password":      {"Administrator", "S3cret!", "S3cret!", sc, true},
		"user case differs":   {"administrator", "S3cret!", "S3cret!", sc, true},
		"wrong password":      {"Administrator", "wrong", "S3cret!", sc, false},
		"password case":       {"Administrator", "s3cret!", "S3cret!", sc, false},
		"different challenge": {"Administrator", "S3cret!", "S3cret!", [8]byte{9}, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			auth, err := ntlmssp.ProcessChallenge(ch, tt.user, tt.password)
			if err != nil {
				t.Fatalf("go-ntlmssp refused our CHALLENGE: %v", err)
			}
			am, err := parseAuthenticateMessage(auth)
			if err != nil {
				t.Fatal(err)
			}
			if am.user != tt.user || am.domain != "WINHOST" {
				t.Errorf("parsed user %q domain %q", am.user, am.domain)
			}
			err = verifyNTLMv2(am, tt.checkWith, tt.challenge, now)
			if (err == nil) != tt.ok {
				t.Errorf("verify: err = %v, want ok=%v", err, tt.ok)
			}
		})
	}

	t.Run("stale timestamp", func(t *testing.T) {
		auth, _ := ntlmssp.ProcessChallenge(ch, "u", "p")
		am, _ := parseAuthenticateMessage(auth)
		if err := verifyNTLMv2(am, "p", sc, now.Add(48*time.Hour)); err == nil {
			t.Error("a response 48 hours old was accepted")
		}
	})
	t.Run("NTLMv1 refused", func(t *testing.T) {
		am := &authenticateMessage{user: "u", ntResponse: make([]byte, 24)}
		if err := verifyNTLMv2(am, "p", sc, now); err == nil {
			t.Error("a 24-byte NTLMv1 response was accepted")
		}
	})
}

func TestParseAuthenticateMessageBounds(t *testing.T) {
	msg := make([]byte, 64)
	copy(msg, ntlmSignature)
	msg[8] = 3
	binary.LittleEndian.PutUint16(msg[20:], 100) // NtChallengeResponse length
	binary.LittleEndian.PutUint32(msg[24:], 60)
	if _, err := parseAuthenticateMessage(msg); err == nil {
		t.Error("a field running past the message was accepted")
	}
	if _, err := parseAuthenticateMessage([]byte("NTLMSSP\x00\x01\x00\x00\x00")); err == nil {
		t.Error("a NEGOTIATE message parsed as AUTHENTICATE")
	}
}
