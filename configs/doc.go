// Package configs holds what otaudit ships as data and the loader for the
// operator's zone configuration.
//
// Embedded here: the default zone configuration (default.yaml, used when no
// --config is given), the public list of vendor default credentials
// (default-credentials.yaml, used only to recognise defaults, never to log
// in with anything but what the operator configured), and, in files owned
// elsewhere in this package, the check specifications and the OUI table.
//
// Load and Parse turn one zone's YAML file into a validated Config. They are
// strict: an unknown key, a value of the wrong shape or an out-of-range
// setting is a Problem naming file:line:column and the field path, and every
// problem in the document is reported at once in a *ConfigError so an
// operator fixes a file in one pass. Config.ZoneModel converts the zone
// section to the root otaudit.Zone the checks work with.
//
// Nothing here talks to the network, scans, scores or stores; passwords and
// community strings are otaudit.Secret from the moment they are decoded, so
// a Config can be printed, logged or marshalled without leaking them.
package configs
