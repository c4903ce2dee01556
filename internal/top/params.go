package top

// System parameter names.
const (
	ParamMethod       = "method"
	ParamAppKey       = "app_key"
	ParamSession      = "session"
	ParamTimestamp    = "timestamp"
	ParamFormat       = "format"
	ParamVersion      = "v"
	ParamSignMethod   = "sign_method"
	ParamSign         = "sign"
	ParamPartnerID    = "partner_id"
	ParamSimplify     = "simplify"
	ParamTargetAppKey = "target_app_key"
)

// Values of system parameters.
const (
	// Version is the only protocol version TOP accepts.
	Version = "2.0"
	// FormatJSON asks for JSON answers.
	FormatJSON = "json"
	// FormatXML asks for XML answers (TOP's documented default).
	FormatXML = "xml"
	// FormContentType is the request body type for every call.
	FormContentType = "application/x-www-form-urlencoded; charset=utf-8"
)

// IsSystemParam reports whether name is one of TOP's system parameters.
func IsSystemParam(name string) bool {
	switch name {
	case ParamMethod, ParamAppKey, ParamSession, ParamTimestamp, ParamFormat, ParamVersion,
		ParamSignMethod, ParamSign, ParamPartnerID, ParamSimplify, ParamTargetAppKey:
		return true
	}
	return false
}

// Param is one request parameter as it crosses the wire: a name and its
// already formatted value.
type Param struct {
	Key   string
	Value string
}
