module github.com/otaudit/otaudit

go 1.26

require (
	github.com/goburrow/modbus v0.1.0
	github.com/google/gopacket v1.1.19
	github.com/gopcua/opcua v0.8.0
	github.com/gosnmp/gosnmp v1.47.0
	github.com/spf13/cobra v1.10.2
	go.etcd.io/bbolt v1.5.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.45.0
)

require (
	github.com/goburrow/serial v0.1.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859 // indirect
)
