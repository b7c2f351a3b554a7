// Package bacnet is the active BACnet/IP prober ("bacnet", UDP 47808): it
// asks one device with a unicast Who-Is who it is (device instance and
// vendor from the I-Am), then reads a fixed list of the Device object's
// character-string properties with ReadProperty (object name, vendor and
// model names, firmware and application software revisions, location,
// description) and turns the answers into flow, host and identity
// observations.
//
// Everything here is read-only by construction: the only datagrams that
// ever leave are an unranged Who-Is and ReadProperty requests, each decoded
// again right before it is written and refused otherwise (see
// checkOutgoing), and every one goes through the active.Session that
// rate-limits it, checks it against the plan and records it. No encoder for
// any other service exists in this package outside its tests (which build them to prove the
// guard refuses them), and none may be added.
//
// Most devices answer a Who-Is with an I-Am broadcast to the BACnet port,
// which the socket connected to the device never sees: one receive-only
// socket on that port serves every probe of a scan (listen.go).
//
// Replies are decoded with the passive parser (collectors/pcap/bacnet) for
// the BVLC, NPDU and APDU headers and by this package's own bounded decoder
// for the ReadProperty acknowledgement, Error, Reject and Abort bodies.
//
// What must not live here: scheduling, rate limits and target expansion
// (collectors/active), passive BACnet decoding (collectors/pcap/bacnet), any
// judgement of what the answers mean (checks), broadcasts of any kind.
package bacnet
