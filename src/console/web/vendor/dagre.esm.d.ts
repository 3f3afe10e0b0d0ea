// The page imports @dagrejs/dagre's own ES module build, which the service serves from node_modules at
// /console/js/vendor/dagre.esm.js (src/console/plugin.ts); its types are the package's.
export * from '@dagrejs/dagre';
export { default } from '@dagrejs/dagre';
