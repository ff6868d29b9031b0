// A JSON parser that keeps every number as the exact token written (a JsonNumber), as the test
// vectors need: `-2.50e1` and `1e400` must reach canonicalEvent as written, not as doubles.
import { JsonNumber } from '../dist/index.js';

export function parseLossless(text) {
    let position = 0;
    const fail = (why) => {
        throw new SyntaxError(`${why} at ${position}`);
    };
    const skipWhitespace = () => {
        while (position < text.length && ' \t\n\r'.includes(text[position])) ++position;
    };
    const parseString = () => {
        const match = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(position));
        if (match === null) fail('bad string');
        position += match[0].length;
        return JSON.parse(match[0]);
    };
    const parseValue = () => {
        skipWhitespace();
        const c = text[position];
        if (c === '{') {
            ++position;
            const object = {};
            skipWhitespace();
            if (text[position] === '}') {
                ++position;
                return object;
            }
            for (;;) {
                skipWhitespace();
                const key = parseString();
                skipWhitespace();
                if (text[position++] !== ':') fail('expected :');
                const value = parseValue();
                Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
                skipWhitespace();
                if (text[position] === ',') {
                    ++position;
                    continue;
                }
                if (text[position++] !== '}') fail('expected , or }');
                return object;
            }
        }
        if (c === '[') {
            ++position;
            const array = [];
            skipWhitespace();
            if (text[position] === ']') {
                ++position;
                return array;
            }
            for (;;) {
                array.push(parseValue());
                skipWhitespace();
                if (text[position] === ',') {
                    ++position;
                    continue;
                }
                if (text[position++] !== ']') fail('expected , or ]');
                return array;
            }
        }
        if (c === '"') return parseString();
        for (const [word, value] of [['true', true], ['false', false], ['null', null]]) {
            if (text.startsWith(word, position)) {
                position += word.length;
                return value;
            }
        }
        const number = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(position));
        if (number === null || number[0].length === 0) fail('unexpected character');
        position += number[0].length;
        return new JsonNumber(number[0]);
    };
    const value = parseValue();
    skipWhitespace();
    if (position !== text.length) fail('trailing content');
    return value;
}
