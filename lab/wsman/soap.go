package wsman

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// XML namespaces of WS-Management and the Windows shell resource.
const (
	nsSOAP       = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsTransfer   = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
	nsWSMan      = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsMSWSMan    = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
	nsShell      = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	nsWSManFault = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
)

// Actions, resource and states of the WinRS protocol (MS-WSMV 3.1.4).
const (
	actionCreate  = nsTransfer + "/Create"
	actionDelete  = nsTransfer + "/Delete"
	actionCommand = nsShell + "/Command"
	actionSend    = nsShell + "/Send"
	actionReceive = nsShell + "/Receive"
	actionSignal  = nsShell + "/Signal"

	actionWSManFault      = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	actionAddressingFault = nsAddressing + "/fault"

	resourceCmd = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

	signalTerminate = nsShell + "/signal/terminate"
	signalCtrlC     = nsShell + "/signal/ctrl_c"
	signalCtrlBreak = nsShell + "/signal/ctrl_break"

	stateDone    = nsShell + "/CommandState/Done"
	stateRunning = nsShell + "/CommandState/Running"

	addressAnonymous = nsAddressing + "/role/anonymous"
)

// Defaults for the headers a client may leave out.
const (
	defaultOperationTimeout = 60 * time.Second
	defaultMaxEnvelopeSize  = 153600
	minMaxEnvelopeSize      = 8192
)

type nameValue struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type stream struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

// envelope is a request as masterzen/winrm (and pywinrm, WinRb) sends it.
type envelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		To               string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
		Action           string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string      `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		OperationTimeout string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		MaxEnvelopeSize  string      `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		Selectors        []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options          []nameValue `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell *struct {
			InputStreams  string `xml:"InputStreams"`
			OutputStreams string `xml:"OutputStreams"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *struct {
			Command   string   `xml:"Command"`
			Arguments []string `xml:"Arguments"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Send *struct {
			Streams []stream `xml:"Stream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Receive *struct {
			DesiredStream struct {
				CommandID string `xml:"CommandId,attr"`
				Streams   string `xml:",chardata"`
			} `xml:"DesiredStream"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
			Code      string `xml:"Code"`
		} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

func parseEnvelope(body []byte) (*envelope, error) {
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, err
	}
	env.Header.Action = strings.TrimSpace(env.Header.Action)
	env.Header.ResourceURI = strings.TrimSpace(env.Header.ResourceURI)
	return &env, nil
}

func (e *envelope) selector(name string) string {
	for _, s := range e.Header.Selectors {
		if strings.EqualFold(s.Name, name) {
			return strings.TrimSpace(s.Value)
		}
	}
	return ""
}

func (e *envelope) option(name string) string {
	for _, o := range e.Header.Options {
		if strings.EqualFold(o.Name, name) {
			return strings.TrimSpace(o.Value)
		}
	}
	return ""
}

// operationTimeout is the client's w:OperationTimeout, 60s if absent or
// unreadable.
func (e *envelope) operationTimeout() time.Duration {
	if d, ok := parseXSDuration(strings.TrimSpace(e.Header.OperationTimeout)); ok && d > 0 {
		return d
	}
	return defaultOperationTimeout
}

// maxEnvelopeSize is the client's w:MaxEnvelopeSize in bytes.
func (e *envelope) maxEnvelopeSize() int {
	n, err := strconv.Atoi(strings.TrimSpace(e.Header.MaxEnvelopeSize))
	if err != nil || n <= 0 {
		return defaultMaxEnvelopeSize
	}
	return max(n, minMaxEnvelopeSize)
}

var xsDurationRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseXSDuration reads the xs:duration forms WS-Management clients send
// for timeouts: PT60S, PT60.000S, PT1M30S, P0DT0H1M0S.
func parseXSDuration(s string) (time.Duration, bool) {
	m := xsDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, false
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			return 0, false
		}
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

// newID returns an upper-case random GUID, the form WinRM uses for shell
// and command ids.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// responseEnvelope wraps a response body the way WinRM does, relating it to
// the request's MessageID.
func responseEnvelope(action, relatesTo, body string) []byte {
	var b strings.Builder
	b.WriteString(`<s:Envelope xml:lang="en-US" xmlns:s="` + nsSOAP + `" xmlns:a="` + nsAddressing +
		`" xmlns:x="` + nsTransfer + `" xmlns:w="` + nsWSMan + `" xmlns:rsp="` + nsShell +
		`" xmlns:p="` + nsMSWSMan + `">`)
	b.WriteString(`<s:Header><a:Action>` + esc(action) + `</a:Action>`)
	b.WriteString(`<a:MessageID>uuid:` + newID() + `</a:MessageID>`)
	b.WriteString(`<a:To>` + addressAnonymous + `</a:To>`)
	if relatesTo != "" {
		b.WriteString(`<a:RelatesTo>` + esc(relatesTo) + `</a:RelatesTo>`)
	}
	b.WriteString(`</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// soapFault is a WS-Management fault as WinRM sends it: a SOAP 1.2 code and
// subcode, a reason, and a WSManFault detail carrying WinRM's numeric error
// code and message. Texts and codes follow captures of real Windows hosts
// where they are known (TimedOut, InvalidSelectors, QuotaLimit); the others
// use the message text of the error code in wsmerror.h.
type soapFault struct {
	action      string // default: the WS-Management fault action
	code        string // s:Sender or s:Receiver
	subcode     string // e.g. w:TimedOut
	reason      string
	faultDetail string // optional w:FaultDetail URI
	wsmanCode   uint32
	message     string
}

func (f *soapFault) Error() string {
	return fmt.Sprintf("%s %s: %s", f.code, f.subcode, f.message)
}

func (f *soapFault) envelope(relatesTo, machine string) []byte {
	var b strings.Builder
	b.WriteString(`<s:Fault><s:Code><s:Value>` + f.code + `</s:Value><s:Subcode><s:Value>` + f.subcode +
		`</s:Value></s:Subcode></s:Code>`)
	b.WriteString(`<s:Reason><s:Text xml:lang="en-US">` + esc(f.reason) + `</s:Text></s:Reason>`)
	b.WriteString(`<s:Detail>`)
	if f.faultDetail != "" {
		b.WriteString(`<w:FaultDetail>` + esc(f.faultDetail) + `</w:FaultDetail>`)
	}
	b.WriteString(fmt.Sprintf(`<f:WSManFault xmlns:f="%s" Code="%d" Machine="%s"><f:Message>%s</f:Message></f:WSManFault>`,
		nsWSManFault, f.wsmanCode, esc(machine), esc(f.message)))
	b.WriteString(`</s:Detail></s:Fault>`)
	action := f.action
	if action == "" {
		action = actionWSManFault
	}
	return responseEnvelope(action, relatesTo, b.String())
}

// Error codes from wsmerror.h (ERROR_WSMAN_*), and Win32 errors.
const (
	codeResourceNotFound   = 0x80338000
	codeActionNotSupported = 0x80338013
	codeOperationTimedOut  = 0x80338029
	codeEncodingLimit      = 0x80338035
	codeInvalidXML         = 0x80338043
	codeInvalidSelectors   = 0x8033805B
	codeQuotaMaxShells     = 0x803381A5
)

const timedOutText = "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "

func faultTimedOut() *soapFault {
	return &soapFault{
		code: "s:Receiver", subcode: "w:TimedOut",
		reason: timedOutText, wsmanCode: codeOperationTimedOut, message: timedOutText,
	}
}

const invalidSelectorsText = "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. "

func faultShellNotFound(shellID string) *soapFault {
	return &soapFault{
		code: "s:Sender", subcode: "w:InvalidSelectors", reason: invalidSelectorsText,
		faultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		wsmanCode:   codeInvalidSelectors,
		message: fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the shell was not found on the server. "+
			"Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. "+
			"Provide the correct ShellId or create a new shell and retry the operation. ", shellID),
	}
}

func faultCommandNotFound(shellID, commandID string) *soapFault {
	return &soapFault{
		code: "s:Sender", subcode: "w:InvalidSelectors", reason: invalidSelectorsText,
		faultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/UnexpectedSelectors",
		wsmanCode:   codeInvalidSelectors,
		message: fmt.Sprintf("The request for the Windows Remote Shell with ShellId %s failed because the command with CommandId %s was not found. "+
			"The command may have been terminated or the CommandId is incorrect. ", shellID, commandID),
	}
}

func faultShellQuota(limit int) *soapFault {
	return &soapFault{
		code: "s:Sender", subcode: "w:QuotaLimit",
		reason: "The WS-Management service cannot process the request. The maximum number of concurrent shells for this user has been exceeded. " +
			"Close existing shells or raise the quota for this user. ",
		wsmanCode: codeQuotaMaxShells,
		message: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, "+
			"which has been exceeded. Close existing shells or raise the quota for this user. ", limit),
	}
}

func faultActionNotSupported(action string) *soapFault {
	return &soapFault{
		action: actionAddressingFault,
		code:   "s:Sender", subcode: "a:ActionNotSupported",
		reason:    "The action is not supported by the service. ",
		wsmanCode: codeActionNotSupported,
		message:   fmt.Sprintf("The WS-Management service does not support the action specified in the request: %q. ", action),
	}
}

func faultInvalidXML(detail string) *soapFault {
	const text = "The WS-Management service cannot process the request because the XML is invalid. "
	f := &soapFault{code: "s:Sender", subcode: "w:SchemaValidationError", reason: text, wsmanCode: codeInvalidXML, message: text}
	if detail != "" {
		f.message += detail
	}
	return f
}

func faultResourceNotFound(uri string) *soapFault {
	return &soapFault{
		code: "s:Sender", subcode: "a:DestinationUnreachable",
		reason:      "The WS-Management service cannot process the request. The service cannot find the resource identified by the resource URI and selectors. ",
		faultDetail: "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI",
		wsmanCode:   codeResourceNotFound,
		message:     fmt.Sprintf("The WS-Management service cannot process the request. The resource URI (%s) was not found in the WS-Management catalog. ", uri),
	}
}

func faultEncodingLimit(size, limit int) *soapFault {
	return &soapFault{
		code: "s:Sender", subcode: "w:EncodingLimit",
		reason:    "The WS-Management service cannot process the request because the request packet is larger than the maximum envelope size allowed. ",
		wsmanCode: codeEncodingLimit,
		message: fmt.Sprintf("The WS-Management service cannot process the request. The request size (at least %d bytes) exceeds the maximum envelope size "+
			"the service accepts (%d bytes, MaxEnvelopeSizekb). ", size, limit),
	}
}

// faultProcess is CreateProcess failing for a command run without cmd.exe
// (WINRS_SKIP_CMD_SHELL): WinRM passes the Win32 error through.
func faultProcess(p *processError) *soapFault {
	return &soapFault{
		code: "s:Receiver", subcode: "w:InternalError",
		reason: p.message, wsmanCode: p.win32Code, message: p.message,
	}
}
