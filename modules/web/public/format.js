// Numbers in the page's locale, for the catalogues (lang-*.js) and the pages: i18n.js sets the
// locale once it has chosen the language. No DOM here, so the catalogues load anywhere (tests too).
let numbers = new Intl.NumberFormat("en-US");
export const setLocale = (locale) => (numbers = new Intl.NumberFormat(locale));
export const num = (n) => numbers.format(n);
