// Formatting: Prettier at 120 columns; ESLint (eslint.config.js) keeps to architecture and correctness rules.
export default {
  printWidth: 120,
  singleQuote: true,
  trailingComma: 'all',
};
