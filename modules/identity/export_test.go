package identity

// TOTPPurpose lets tests seal a secret for a row as the service would (a value under an older key).
var TOTPPurpose = totpPurpose
