package top

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Platform error codes from TOP's published table (docs/top-protocol.md §6).
const (
	CodeUploadFail               = 3
	CodeUserCallLimited          = 4
	CodeSessionCallLimited       = 5
	CodePartnerCallLimited       = 6
	CodeAppCallLimited           = 7
	CodeAppCallExceedsFrequency  = 8
	CodeHTTPActionNotAllowed     = 9
	CodeServiceUnavailable       = 10
	CodeInsufficientISVPerms     = 11
	CodeInsufficientUserPerms    = 12
	CodeInsufficientPartnerPerms = 13
	CodeRemoteServiceError       = 15
	CodeMissingMethod            = 21
	CodeInvalidMethod            = 22
	CodeInvalidFormat            = 23
	CodeMissingSignature         = 24
	CodeInvalidSignature         = 25
	CodeMissingSession           = 26
	CodeInvalidSession           = 27
	CodeMissingAppKey            = 28
	CodeInvalidAppKey            = 29
	CodeMissingTimestamp         = 30
	CodeInvalidTimestamp         = 31
	CodeMissingVersion           = 32
	CodeInvalidVersion           = 33
	CodeUnsupportedVersion       = 34
	CodeMissingRequiredArguments = 40
	CodeInvalidArguments         = 41
	CodeForbiddenRequest         = 42
	CodeParameterError           = 43
	// CodeRemoteServiceErrorDoc is the code the API documents' error
	// examples show with "Remote service error"; live TOP sends 15. Both
	// mean the same (docs/top-protocol.md §6).
	CodeRemoteServiceErrorDoc = 50
	CodeInsufficientSecurity  = 53
)

// PlatformCode is one row of TOP's platform error table: what the code
// means when no sub-code says otherwise (docs/top-protocol.md §6, §7).
type PlatformCode struct {
	// Code is error_response.code.
	Code int
	// Message is TOP's msg for the code, as the table spells it.
	Message string
	// Kind says who must act.
	Kind Kind
	// Repeat says whether the same call may be sent again.
	Repeat Repeat
}

// platformCodes is TOP's platform error table. A new platform code is one
// row here; the client's retries, the gRPC status and the bulk sync follow.
var platformCodes = [...]PlatformCode{
	{CodeUploadFail, "Upload Fail", KindConfig, RepeatLater},
	{CodeUserCallLimited, "User Call Limited", KindQuota, RepeatLater},
	{CodeSessionCallLimited, "Session Call Limited", KindQuota, RepeatLater},
	{CodePartnerCallLimited, "Partner Call Limited", KindQuota, RepeatLater},
	{CodeAppCallLimited, "App Call Limited", KindQuota, RepeatLater},
	{CodeAppCallExceedsFrequency, "App Call Exceeds Limited Frequency", KindQuota, RepeatLater},
	{CodeHTTPActionNotAllowed, "Http Action Not Allowed", KindConfig, RepeatLater},
	// TOP did not run the call: any call may be sent again at once.
	{CodeServiceUnavailable, "Service Currently Unavailable", KindUnavailable, RepeatNow},
	{CodeInsufficientISVPerms, "Insufficient ISV Permissions", KindPermission, RepeatLater},
	{CodeInsufficientUserPerms, "Insufficient User Permissions", KindPermission, RepeatLater},
	{CodeInsufficientPartnerPerms, "Insufficient Partner Permissions", KindPermission, RepeatLater},
	{CodeRemoteServiceError, "Remote service error", KindUnavailable, RepeatLater},
	{CodeMissingMethod, "Missing Method", KindConfig, RepeatLater},
	{CodeInvalidMethod, "Invalid Method", KindConfig, RepeatLater},
	{CodeInvalidFormat, "Invalid Format", KindConfig, RepeatLater},
	{CodeMissingSignature, "Missing Signature", KindConfig, RepeatLater},
	{CodeInvalidSignature, "Invalid Signature", KindConfig, RepeatLater},
	{CodeMissingSession, "Missing Session", KindSession, RepeatLater},
	{CodeInvalidSession, "Invalid Session", KindSession, RepeatLater},
	{CodeMissingAppKey, "Missing App Key", KindConfig, RepeatLater},
	{CodeInvalidAppKey, "Invalid App Key", KindConfig, RepeatLater},
	{CodeMissingTimestamp, "Missing Timestamp", KindConfig, RepeatLater},
	{CodeInvalidTimestamp, "Invalid Timestamp", KindConfig, RepeatLater},
	{CodeMissingVersion, "Missing Version", KindConfig, RepeatLater},
	{CodeInvalidVersion, "Invalid Version", KindConfig, RepeatLater},
	{CodeUnsupportedVersion, "Unsupported Version", KindConfig, RepeatLater},
	// The request's content is refused: sending it again cannot succeed.
	{CodeMissingRequiredArguments, "Missing Required Arguments", KindInvalid, RepeatNever},
	{CodeInvalidArguments, "Invalid Arguments", KindInvalid, RepeatNever},
	{CodeForbiddenRequest, "Forbidden Request", KindConfig, RepeatLater},
	{CodeParameterError, "Parameter Error", KindInvalid, RepeatNever},
	{CodeRemoteServiceErrorDoc, "Remote service error", KindUnavailable, RepeatLater},
	{CodeInsufficientSecurity, "Insufficient security level", KindPermission, RepeatLater},
}

// PlatformCodes returns a copy of TOP's platform error table, in code order.
func PlatformCodes() []PlatformCode { return slices.Clone(platformCodes[:]) }

// LookupPlatformCode returns the table's row for code.
func LookupPlatformCode(code int) (PlatformCode, bool) {
	for _, c := range platformCodes {
		if c.Code == code {
			return c, true
		}
	}
	return PlatformCode{}, false
}

// Message returns TOP's message for a platform code, or "" when the code is
// not in the published table.
func Message(code int) string {
	c, _ := LookupPlatformCode(code)
	return c.Message
}

// Sub-code prefixes and the sub-codes servicecenterd acts on.
const (
	SubCodePrefixCaller   = "isv."
	SubCodePrefixPlatform = "isp."
	SubCodePrefixQuota    = "accesscontrol."

	// SubCodeInvalidParameter is TOP's sub_code for a bad business parameter.
	SubCodeInvalidParameter = "isv.invalid-parameter"
	// SubCodeMissingParameter is TOP's sub_code for a missing business parameter.
	SubCodeMissingParameter = "isv.missing-parameter"
	// SubCodeServiceUnavailable is a platform fault worth retrying.
	SubCodeServiceUnavailable = "isp.top-remote-service-unavailable"
	// SubCodeAppAccessCount is the app's daily quota ban.
	SubCodeAppAccessCount = "accesscontrol.limited-by-app-access-count"
	// SubCodeAPIAccessCount is a per-API ban for this app.
	SubCodeAPIAccessCount = "accesscontrol.limited-by-api-access-count"
	// SubCodeDynamicAccessCount is a frequency ban for this app.
	SubCodeDynamicAccessCount = "accesscontrol.limited-by-dynamic-access-count"
)

// BanScope says what a quota ban applies to.
type BanScope int

// Ban scopes.
const (
	// BanApp stops every call of the app key.
	BanApp BanScope = iota
	// BanAPI stops calls of one method for the app key.
	BanAPI
)

// ScopeOfBan returns the scope of a quota error's ban: per API for
// accesscontrol.limited-by-api-access-count, per app otherwise.
func ScopeOfBan(subCode string) BanScope {
	if subCode == SubCodeAPIAccessCount {
		return BanAPI
	}
	return BanApp
}

// BanMessage formats TOP's ban sub_msg for a ban of d, rounded up to whole
// seconds.
func BanMessage(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	return "This ban will last for " + strconv.FormatInt(secs, 10) + " more seconds"
}

// ParseBan reads the ban length out of a quota error's sub_msg, as in
// "This ban will last for 31062 more seconds". It reports false when msg
// carries no ban length.
func ParseBan(msg string) (time.Duration, bool) {
	const prefix, suffix = "ban will last for ", " more second"
	i := strings.Index(msg, prefix)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(prefix):]
	j := strings.Index(rest, suffix)
	if j <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(rest[:j]), 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
