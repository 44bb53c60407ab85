// The ASCII bytes the parsers and writers name, by their Unicode names, so
// that a comparison reads as what it looks for (`c == COLON`) in every file.

export const TAB: i32 = 0x09;
export const LINE_FEED: i32 = 0x0a;
export const CARRIAGE_RETURN: i32 = 0x0d;
export const SPACE: i32 = 0x20;
export const DOUBLE_QUOTE: i32 = 0x22;
export const HASH: i32 = 0x23;
export const PERCENT: i32 = 0x25;
export const PLUS: i32 = 0x2b;
export const COMMA: i32 = 0x2c;
export const MINUS: i32 = 0x2d;
export const DOT: i32 = 0x2e;
export const SLASH: i32 = 0x2f;
export const DIGIT_ZERO: i32 = 0x30;
export const COLON: i32 = 0x3a;
export const EQUALS: i32 = 0x3d;
export const QUESTION_MARK: i32 = 0x3f;
export const AT_SIGN: i32 = 0x40;
export const UPPER_E: i32 = 0x45;
export const LEFT_BRACKET: i32 = 0x5b;
export const BACKSLASH: i32 = 0x5c;
export const RIGHT_BRACKET: i32 = 0x5d;
export const LOWER_B: i32 = 0x62;
export const LOWER_E: i32 = 0x65;
export const LOWER_F: i32 = 0x66;
export const LOWER_N: i32 = 0x6e;
export const LOWER_R: i32 = 0x72;
export const LOWER_T: i32 = 0x74;
export const LOWER_U: i32 = 0x75;
export const LEFT_BRACE: i32 = 0x7b;
export const RIGHT_BRACE: i32 = 0x7d;
export const DELETE: i32 = 0x7f;
