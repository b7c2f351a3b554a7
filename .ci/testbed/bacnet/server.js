// A BACnet/IP device for the test zone (node-bacnet): answers Who-Is with an
// I-Am (broadcast, as most devices do) and ReadProperty of its Device
// object's character-string properties; anything else gets an Error.
// Usage: node server.js IP BROADCAST INSTANCE
'use strict';
const Bacnet = require('node-bacnet');
const E = Bacnet.enum;

const [ip, broadcast, instanceArg] = process.argv.slice(2);
const instance = Number(instanceArg);
const vendorId = 8; // Delta Controls
const props = {
  77: 'AHU-3',                 // object-name
  121: 'Delta Controls Inc.',  // vendor-name
  70: 'eBCON',                 // model-name
  44: '4.2.1',                 // firmware-revision
  12: '3.40',                  // application-software-version
  58: 'Plant-A Hall-3',        // location
  28: 'air handling unit 3',   // description
};

const client = new Bacnet({port: 47808, interface: ip, broadcastAddress: broadcast, apduTimeout: 3000});
client.on('error', (err) => console.error('bacnet peer:', err));
client.on('listening', () => console.log(`bacnet peer: device ${instance} on ${ip}:47808`));
client.on('whoIs', (data) => {
  const p = data.payload || {};
  if (p.lowLimit !== undefined && (instance < p.lowLimit || instance > p.highLimit)) {
    return;
  }
  client.iAmResponse(null, instance, E.Segmentation.NO_SEGMENTATION, vendorId);
});
client.on('readProperty', (data) => {
  const {objectId, property} = data.payload;
  const value = props[property.id];
  if (objectId.type !== E.ObjectType.DEVICE || objectId.instance !== instance || value === undefined) {
    client.errorResponse(data.header.sender, E.ConfirmedServiceChoice.READ_PROPERTY, data.invokeId,
      E.ErrorClass.PROPERTY, E.ErrorCode.UNKNOWN_PROPERTY);
    return;
  }
  client.readPropertyResponse(data.header.sender, data.invokeId, objectId, property,
    [{type: E.ApplicationTag.CHARACTER_STRING, value}]);
});
