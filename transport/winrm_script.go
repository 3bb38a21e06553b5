package transport

// What goes over the wire as command lines: the script with its stdin and
// end marker, -EncodedCommand, staging under cmd.exe's limit, and the
// CLIXML that powershell.exe writes to stderr.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
)

// winrmScript is the body with $PortwardenShellId (the id of the shell
// it runs in, a GUID: see winrmConn.shellID) and $PortwardenStdin in
// front and the end marker behind.
func winrmScript(s Script, shellID string) string {
	var b strings.Builder
	if winrmShellIDRe.MatchString(shellID) {
		b.WriteString("$PortwardenShellId='" + shellID + "'\n")
	}
	if len(s.Stdin) > 0 {
		b.WriteString("$PortwardenStdin=[Convert]::FromBase64String('" + base64.StdEncoding.EncodeToString(s.Stdin) + "')\n")
	}
	b.WriteString(s.Body)
	if !strings.HasSuffix(s.Body, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("'" + WinRMEndMarker + "'\n")
	return b.String()
}

// encodeCommand makes the command line that runs script.
func encodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return powershellPrefix + base64.StdEncoding.EncodeToString(b)
}

// winrmCommandLines returns the command lines that run script: just one
// if it fits, else the staging commands and the one that runs the staged
// script, with the name of the staging file.
func winrmCommandLines(script string) ([]string, string, error) {
	if line := encodeCommand(script); len(line) <= winrmCommandLineBudget {
		return []string{line}, "", nil
	}
	rnd := make([]byte, 8)
	if _, err := rand.Read(rnd); err != nil {
		return nil, "", err
	}
	file := "portwarden-" + hex.EncodeToString(rnd) + ".b64"
	payload := base64.StdEncoding.EncodeToString([]byte(script))
	chunkCmd := func(first bool, chunk string) string {
		verb := "Add-Content"
		if first {
			verb = "Set-Content"
		}
		return "$ProgressPreference='SilentlyContinue';" + verb + " -LiteralPath (Join-Path $env:TEMP '" + file + "') -Value '" + chunk + "'"
	}
	// The largest chunk whose command fits: every script character costs
	// 8/3 command-line characters.
	room := (winrmCommandLineBudget-len(powershellPrefix))*3/8 - len(chunkCmd(true, ""))
	room -= room % 4
	var lines []string
	for i := 0; i < len(payload); i += room {
		line := encodeCommand(chunkCmd(i == 0, payload[i:min(len(payload), i+room)]))
		if len(line) > winrmCommandLineBudget {
			return nil, "", fmt.Errorf("staging command of %d characters exceeds cmd.exe's limit", len(line))
		}
		lines = append(lines, line)
	}
	run := "$ErrorActionPreference='Stop';$ProgressPreference='SilentlyContinue';$f=Join-Path $env:TEMP '" + file + "';" +
		"try{$b=[Convert]::FromBase64String((Get-Content -LiteralPath $f -Raw))}finally{Remove-Item -LiteralPath $f -Force -ErrorAction SilentlyContinue};" +
		"if($b.Length -ne " + strconv.Itoa(len(script)) + "){throw 'portwarden: the staged script arrived incomplete'};" +
		"& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString($b)))"
	lines = append(lines, encodeCommand(run))
	return lines, file, nil
}

// cutEndMarker removes the end marker line, which must be the last line
// of stdout.
func cutEndMarker(stdout []byte) ([]byte, bool) {
	trimmed := bytes.TrimRight(stdout, "\r\n \t")
	if !bytes.HasSuffix(trimmed, []byte(WinRMEndMarker)) {
		return stdout, false
	}
	start := len(trimmed) - len(WinRMEndMarker)
	if start > 0 && trimmed[start-1] != '\n' {
		return stdout, false
	}
	return stdout[:start], true
}

const clixmlMarker = "#< CLIXML"

var clixmlEscape = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// cleanCLIXML turns the CLIXML that powershell.exe writes to a
// redirected stderr into text: progress records are dropped (they are no
// errors), error records become their message, warnings, verbose and
// debug records their message with a prefix. Anything that is not CLIXML
// is kept, and CLIXML that does not parse is kept as it is.
func cleanCLIXML(stderr []byte) []byte {
	if !bytes.Contains(stderr, []byte(clixmlMarker)) {
		return stderr
	}
	var out bytes.Buffer
	rest := stderr
	for {
		i := bytes.Index(rest, []byte(clixmlMarker))
		if i < 0 {
			out.Write(rest)
			return out.Bytes()
		}
		out.Write(rest[:i])
		rest = bytes.TrimLeft(rest[i+len(clixmlMarker):], "\r\n")
		end := bytes.Index(rest, []byte("</Objs>"))
		if end < 0 {
			out.Write([]byte(clixmlMarker + "\r\n"))
			out.Write(rest)
			return out.Bytes()
		}
		doc := rest[:end+len("</Objs>")]
		rest = bytes.TrimLeft(rest[end+len("</Objs>"):], "\r\n")
		text, ok := clixmlText(doc)
		if !ok {
			out.Write([]byte(clixmlMarker + "\r\n"))
			out.Write(doc)
			continue
		}
		out.WriteString(text)
	}
}

func clixmlText(doc []byte) (string, bool) {
	var objs struct {
		S []struct {
			Kind string `xml:"S,attr"`
			Text string `xml:",chardata"`
		} `xml:"S"`
	}
	if err := xml.Unmarshal(doc, &objs); err != nil {
		return "", false
	}
	var b strings.Builder
	for _, s := range objs.S {
		text := decodeCLIXMLString(s.Text)
		switch s.Kind {
		case "Error":
			b.WriteString(text)
		case "Warning":
			b.WriteString("WARNING: " + text)
		case "Verbose":
			b.WriteString("VERBOSE: " + text)
		case "Debug":
			b.WriteString("DEBUG: " + text)
		case "Information":
			b.WriteString(text)
		}
	}
	return b.String(), true
}

// decodeCLIXMLString undoes CLIXML's _xHHHH_ escapes (line breaks and
// other control characters, UTF-16 surrogates).
func decodeCLIXMLString(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	last := 0
	for _, m := range clixmlEscape.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			flush()
			b.WriteString(s[last:m[0]])
		}
		v, _ := strconv.ParseUint(s[m[2]:m[3]], 16, 16)
		units = append(units, uint16(v))
		last = m[1]
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}
