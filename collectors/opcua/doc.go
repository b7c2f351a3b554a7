// Package opcua is the active OPC UA collector: it asks an OPC UA server
// how it is secured and what it lets an anonymous or default user do, and
// proves at the bytes that it only ever asks.
//
// What it does to a device, per port: one discovery channel (GetEndpoints,
// FindServers) on SecurityPolicy None, GetEndpoints on the server's own
// advertised URLs when they name the same address, one anonymous session
// where an endpoint offers it (ServerStatus, BuildInfo, NamespaceArray, and
// the UserAccessLevel/UserExecutable attributes of a bounded sample of
// nodes from a bounded browse of the Objects folder), and, when the zone
// allows credential guessing, a bounded number of user-name logins. Nothing
// else: no Write, Call, AddNodes, DeleteNodes, subscriptions or history.
//
// Channels are few, because each costs the device a connection and an
// OpenSecureChannel (RSA work on a signed one) and each request waits for
// the per-device rate: the discovery channel stays open and carries the
// advertised URLs of its port, the anonymous session and the logins when
// their endpoint has its security (SecurityPolicy None, the common case);
// otherwise the session or the logins get one channel, which the logins
// share. A new one is opened only when the device ends the one open, within
// what Plan announced. One connection to the device at a time: a step that
// needs another channel closes the open one first.
//
// Every byte the client sends goes through an in-process guard (guard.go):
// a loopback proxy that parses each UA-TCP chunk, forwards Hello,
// OpenSecureChannel and CloseSecureChannel, decodes the service type of
// every MSG chunk it can read (SecurityMode None and Sign) and refuses
// anything not on its read-only list, and sends every message through
// active.Session.Do with its request kind. The TCP connection under each
// channel is a request too: it is opened through Session.Do("tcp",
// "connect"), so the per-device rate, the plan and the ledger cover it. The client itself (channel.go)
// is a thin layer over gopcua's uacp/uasc packages that has methods for
// the read-only services only.
//
// What must not live here: scheduling, rate limits and the allow-list of
// kinds (collectors/active), judging what the observations mean (checks),
// storage.
package opcua
