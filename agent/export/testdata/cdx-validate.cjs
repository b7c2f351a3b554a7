// Validates a CycloneDX 1.6 JSON file with the CycloneDX JavaScript
// library's JSON validator (ajv with formats). Used by cyclonedx_test.go.
// Usage: NODE_PATH=.ci/cache/cyclonedx/node_modules node cdx-validate.cjs FILE
// Exit: 0 valid, 1 invalid (errors on stderr), 2 error, 3 the optional ajv
// dependencies are missing.
'use strict';
const fs = require('fs');
const CDX = require('@cyclonedx/cyclonedx-library');

(async () => {
  const validator = new CDX.Validation.JsonStrictValidator(CDX.Spec.Version.v1dot6);
  try {
    const errors = await validator.validate(fs.readFileSync(process.argv[2], 'utf8'));
    if (errors === null) {
      console.log('valid');
      process.exit(0);
    }
    console.error(JSON.stringify(errors, null, 2));
    process.exit(1);
  } catch (err) {
    if (err instanceof CDX.Validation.MissingOptionalDependencyError) {
      console.error('missing optional dependency: ' + err.message);
      process.exit(3);
    }
    console.error(String(err));
    process.exit(2);
  }
})();
