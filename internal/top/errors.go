package top

import (
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

// Message returns TOP's message for a platform code, or "" when the code is
// not in the published table.
func Message(code int) string {
	switch code {
	case CodeUploadFail:
		return "Upload Fail"
	case CodeUserCallLimited:
		return "User Call Limited"
	case CodeSessionCallLimited:
		return "Session Call Limited"
	case CodePartnerCallLimited:
		return "Partner Call Limited"
	case CodeAppCallLimited:
		return "App Call Limited"
	case CodeAppCallExceedsFrequency:
		return "App Call Exceeds Limited Frequency"
	case CodeHTTPActionNotAllowed:
		return "Http Action Not Allowed"
	case CodeServiceUnavailable:
		return "Service Currently Unavailable"
	case CodeInsufficientISVPerms:
		return "Insufficient ISV Permissions"
	case CodeInsufficientUserPerms:
		return "Insufficient User Permissions"
	case CodeInsufficientPartnerPerms:
		return "Insufficient Partner Permissions"
	case CodeRemoteServiceError, CodeRemoteServiceErrorDoc:
		return "Remote service error"
	case CodeMissingMethod:
		return "Missing Method"
	case CodeInvalidMethod:
		return "Invalid Method"
	case CodeInvalidFormat:
		return "Invalid Format"
	case CodeMissingSignature:
		return "Missing Signature"
	case CodeInvalidSignature:
		return "Invalid Signature"
	case CodeMissingSession:
		return "Missing Session"
	case CodeInvalidSession:
		return "Invalid Session"
	case CodeMissingAppKey:
		return "Missing App Key"
	case CodeInvalidAppKey:
		return "Invalid App Key"
	case CodeMissingTimestamp:
		return "Missing Timestamp"
	case CodeInvalidTimestamp:
		return "Invalid Timestamp"
	case CodeMissingVersion:
		return "Missing Version"
	case CodeInvalidVersion:
		return "Invalid Version"
	case CodeUnsupportedVersion:
		return "Unsupported Version"
	case CodeMissingRequiredArguments:
		return "Missing Required Arguments"
	case CodeInvalidArguments:
		return "Invalid Arguments"
	case CodeForbiddenRequest:
		return "Forbidden Request"
	case CodeParameterError:
		return "Parameter Error"
	case CodeInsufficientSecurity:
		return "Insufficient security level"
	}
	return ""
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

// Class groups TOP errors by who must act on them.
type Class int

// The error classes.
const (
	// ClassUnknown is an error TOP's documentation does not explain.
	ClassUnknown Class = iota
	// ClassCaller is the caller's fault: missing or invalid parameters, a
	// business rule (isv.* sub-codes, 21-23, 30-34, 40-43). Do not retry
	// without changing the request.
	ClassCaller
	// ClassAuth is a credential problem: app key, signature or session
	// (24-29). Fix the configuration or re-authorise.
	ClassAuth
	// ClassPermission is a missing permission (11-13, 53).
	ClassPermission
	// ClassQuota is flow control (4-8, accesscontrol.* sub-codes).
	ClassQuota
	// ClassPlatform is a platform fault (isp.* sub-codes, 10, 15 and the
	// API documents' 50 without a caller sub-code). Often transient.
	ClassPlatform
)

// String names the class.
func (c Class) String() string {
	switch c {
	case ClassCaller:
		return "caller"
	case ClassAuth:
		return "auth"
	case ClassPermission:
		return "permission"
	case ClassQuota:
		return "quota"
	case ClassPlatform:
		return "platform"
	}
	return "unknown"
}

// Classify classifies a TOP error by its sub_code first and its code second.
// A remote service error (15, or 50 as the API documents show it) carrying an isv.*
// sub_code is the caller's fault; with an isp.* sub_code or none it is the
// platform's.
func Classify(code int, subCode string) Class {
	switch {
	case strings.HasPrefix(subCode, SubCodePrefixQuota):
		return ClassQuota
	case strings.HasPrefix(subCode, SubCodePrefixPlatform):
		return ClassPlatform
	case strings.HasPrefix(subCode, SubCodePrefixCaller):
		if strings.Contains(subCode, "permission") {
			return ClassPermission
		}
		return ClassCaller
	}
	switch code {
	case CodeUserCallLimited, CodeSessionCallLimited, CodePartnerCallLimited,
		CodeAppCallLimited, CodeAppCallExceedsFrequency:
		return ClassQuota
	case CodeServiceUnavailable, CodeRemoteServiceError, CodeRemoteServiceErrorDoc:
		return ClassPlatform
	case CodeInsufficientISVPerms, CodeInsufficientUserPerms, CodeInsufficientPartnerPerms,
		CodeInsufficientSecurity:
		return ClassPermission
	case CodeMissingSignature, CodeInvalidSignature, CodeMissingSession, CodeInvalidSession,
		CodeMissingAppKey, CodeInvalidAppKey:
		return ClassAuth
	case CodeUploadFail, CodeHTTPActionNotAllowed, CodeMissingMethod, CodeInvalidMethod,
		CodeInvalidFormat, CodeMissingTimestamp, CodeInvalidTimestamp, CodeMissingVersion,
		CodeInvalidVersion, CodeUnsupportedVersion, CodeMissingRequiredArguments,
		CodeInvalidArguments, CodeForbiddenRequest, CodeParameterError:
		return ClassCaller
	}
	return ClassUnknown
}

// Retryable reports whether repeating the same call may succeed without any
// change: code 10 (service unavailable) and isp.* sub-codes. Quota errors
// are not retryable here; they end when their ban ends (see ParseBan).
func Retryable(code int, subCode string) bool {
	return code == CodeServiceUnavailable || strings.HasPrefix(subCode, SubCodePrefixPlatform)
}

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
