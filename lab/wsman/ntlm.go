package wsman

// The server side of NTLM (MS-NLMP) as far as a WinRM host needs it to
// authenticate github.com/Azure/go-ntlmssp, the client masterzen/winrm
// uses: NEGOTIATE in, CHALLENGE out, AUTHENTICATE in and an NTLMv2
// response checked against the account's password. No session key is
// derived and nothing is signed or sealed: the simulation does not
// encrypt messages, which is why plain HTTP needs AllowUnencrypted.

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/md4" //lint:ignore SA1019 NTLM's NT hash is MD4 by definition; the simulation must compute it
)

var ntlmSignature = []byte("NTLMSSP\x00")

// NEGOTIATE_* flags from MS-NLMP 2.2.2.5.
const (
	ntlmNegotiateUnicode         uint32 = 1 << 0
	ntlmNegotiateOEM             uint32 = 1 << 1
	ntlmRequestTarget            uint32 = 1 << 2
	ntlmNegotiateSign            uint32 = 1 << 4
	ntlmNegotiateSeal            uint32 = 1 << 5
	ntlmNegotiateLMKey           uint32 = 1 << 7
	ntlmNegotiateNTLM            uint32 = 1 << 9
	ntlmNegotiateAlwaysSign      uint32 = 1 << 15
	ntlmTargetTypeServer         uint32 = 1 << 17
	ntlmNegotiateExtendedSession uint32 = 1 << 19
	ntlmNegotiateTargetInfo      uint32 = 1 << 23
	ntlmNegotiateVersion         uint32 = 1 << 25
	ntlmNegotiate128             uint32 = 1 << 29
	ntlmNegotiateKeyExch         uint32 = 1 << 30
	ntlmNegotiate56              uint32 = 1 << 31
)

// AV_PAIR ids from MS-NLMP 2.2.2.1.
const (
	avEOL             uint16 = 0
	avNbComputerName  uint16 = 1
	avNbDomainName    uint16 = 2
	avDNSComputerName uint16 = 3
	avDNSDomainName   uint16 = 4
	avTimestamp       uint16 = 7
)

// ntlmMaxSkew is how far the timestamp in an NTLMv2 response may be from
// the server's clock (MS-NLMP's MaxLifetime, 36 hours by default).
const ntlmMaxSkew = 36 * time.Hour

// ntlmMessageType checks the NTLMSSP signature and returns the message type
// (1 NEGOTIATE, 2 CHALLENGE, 3 AUTHENTICATE).
func ntlmMessageType(msg []byte) (uint32, error) {
	if len(msg) < 12 || !bytes.Equal(msg[:8], ntlmSignature) {
		return 0, errors.New("not an NTLMSSP message")
	}
	return binary.LittleEndian.Uint32(msg[8:12]), nil
}

// parseNegotiateFlags reads the flags of a NEGOTIATE message.
func parseNegotiateFlags(msg []byte) (uint32, error) {
	if t, err := ntlmMessageType(msg); err != nil || t != 1 {
		return 0, errors.New("not an NTLM NEGOTIATE message")
	}
	if len(msg) < 16 {
		return 0, errors.New("NTLM NEGOTIATE message too short")
	}
	return binary.LittleEndian.Uint32(msg[12:16]), nil
}

// windowsFileTime converts to 100-nanosecond intervals since 1601-01-01.
func windowsFileTime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

func fromWindowsFileTime(ft uint64) time.Time {
	return time.Unix(0, int64(ft-116444736000000000)*100)
}

// challengeMessage builds the CHALLENGE message a stand-alone (workgroup)
// Windows server sends: its NetBIOS name as the target, target info with
// the names and a timestamp, and the client's requested flags narrowed to
// what this server does. It never offers LM_KEY or KEY_EXCH, which
// go-ntlmssp refuses.
func challengeMessage(clientFlags uint32, computerName string, serverChallenge [8]byte, now time.Time) []byte {
	flags := ntlmRequestTarget | ntlmNegotiateNTLM | ntlmNegotiateAlwaysSign |
		ntlmTargetTypeServer | ntlmNegotiateTargetInfo | ntlmNegotiateVersion
	flags |= clientFlags & (ntlmNegotiateUnicode | ntlmNegotiateExtendedSession |
		ntlmNegotiate128 | ntlmNegotiate56 | ntlmNegotiateSign | ntlmNegotiateSeal)
	if flags&ntlmNegotiateUnicode == 0 {
		flags |= ntlmNegotiateOEM
	}
	name := strings.ToUpper(computerName)
	var target []byte
	if flags&ntlmNegotiateUnicode != 0 {
		target = EncodeUTF16LE(name)
	} else {
		target = []byte(name)
	}

	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		binary.Write(&info, binary.LittleEndian, id)
		binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(avNbDomainName, EncodeUTF16LE(name))
	av(avNbComputerName, EncodeUTF16LE(name))
	av(avDNSDomainName, EncodeUTF16LE(strings.ToLower(computerName)))
	av(avDNSComputerName, EncodeUTF16LE(strings.ToLower(computerName)))
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, windowsFileTime(now))
	av(avTimestamp, ts)
	av(avEOL, nil)

	const headerLen = 56
	var m bytes.Buffer
	m.Write(ntlmSignature)
	binary.Write(&m, binary.LittleEndian, uint32(2))
	writeField(&m, len(target), headerLen)
	binary.Write(&m, binary.LittleEndian, flags)
	m.Write(serverChallenge[:])
	m.Write(make([]byte, 8)) // reserved
	writeField(&m, info.Len(), headerLen+len(target))
	// Version: Windows Server 2019 (10.0.17763), NTLM revision 15.
	m.Write([]byte{10, 0, 0x03, 0x45, 0, 0, 0, 15})
	m.Write(target)
	m.Write(info.Bytes())
	return m.Bytes()
}

func writeField(b *bytes.Buffer, length, offset int) {
	binary.Write(b, binary.LittleEndian, uint16(length))
	binary.Write(b, binary.LittleEndian, uint16(length))
	binary.Write(b, binary.LittleEndian, uint32(offset))
}

// authenticateMessage is the part of an AUTHENTICATE message that
// verification needs.
type authenticateMessage struct {
	lmResponse  []byte
	ntResponse  []byte
	domain      string
	user        string
	workstation string
	flags       uint32
}

// parseAuthenticateMessage reads an AUTHENTICATE message (MS-NLMP 2.2.1.3).
func parseAuthenticateMessage(msg []byte) (*authenticateMessage, error) {
	if t, err := ntlmMessageType(msg); err != nil || t != 3 {
		return nil, errors.New("not an NTLM AUTHENTICATE message")
	}
	if len(msg) < 64 {
		return nil, errors.New("NTLM AUTHENTICATE message too short")
	}
	field := func(at int) ([]byte, error) {
		n := int(binary.LittleEndian.Uint16(msg[at:]))
		off := int(binary.LittleEndian.Uint32(msg[at+4:]))
		if n == 0 {
			return nil, nil
		}
		if off < 0 || off+n > len(msg) {
			return nil, fmt.Errorf("NTLM AUTHENTICATE field at %d runs past the message", at)
		}
		return msg[off : off+n], nil
	}
	am := &authenticateMessage{flags: binary.LittleEndian.Uint32(msg[60:64])}
	var raw [5][]byte
	for i, at := range []int{12, 20, 28, 36, 44} {
		b, err := field(at)
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	am.lmResponse, am.ntResponse = raw[0], raw[1]
	str := func(b []byte) (string, error) {
		if am.flags&ntlmNegotiateUnicode == 0 {
			return string(b), nil
		}
		if len(b)%2 != 0 {
			return "", errors.New("NTLM AUTHENTICATE string has odd length")
		}
		return DecodeUTF16LE(b), nil
	}
	var err error
	if am.domain, err = str(raw[2]); err != nil {
		return nil, err
	}
	if am.user, err = str(raw[3]); err != nil {
		return nil, err
	}
	if am.workstation, err = str(raw[4]); err != nil {
		return nil, err
	}
	return am, nil
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// ntowfv2 is NTOWFv2 from MS-NLMP 3.3.2:
// HMAC_MD5(MD4(UNICODE(password)), UNICODE(Uppercase(user) + domain)).
func ntowfv2(password, user, domain string) []byte {
	h := md4.New()
	h.Write(EncodeUTF16LE(password))
	return hmacMD5(h.Sum(nil), EncodeUTF16LE(strings.ToUpper(user)+domain))
}

// errNTLMRejected is returned for every credential failure, so that the
// reason (unknown user or wrong password) does not leak to the client.
var errNTLMRejected = errors.New("NTLM authentication failed")

// verifyNTLMv2 checks an AUTHENTICATE message against the password of the
// account it names, for the given server challenge. Only NTLMv2 is
// accepted, as on a host with LmCompatibilityLevel 5: NTLMv1 and LM
// responses and anonymous logons are refused.
func verifyNTLMv2(am *authenticateMessage, password string, serverChallenge [8]byte, now time.Time) error {
	nt := am.ntResponse
	// NTProofStr (16) + blob header (28) + at least the MsvAvEOL pair.
	if len(nt) < 16+28+4 {
		return errNTLMRejected
	}
	proof, blob := nt[:16], nt[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return errNTLMRejected
	}
	want := hmacMD5(ntowfv2(password, am.user, am.domain), serverChallenge[:], blob)
	if !hmac.Equal(proof, want) {
		return errNTLMRejected
	}
	ts := fromWindowsFileTime(binary.LittleEndian.Uint64(blob[8:16]))
	if d := now.Sub(ts); d > ntlmMaxSkew || d < -ntlmMaxSkew {
		return errNTLMRejected
	}
	return nil
}
