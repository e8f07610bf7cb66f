/**
 * The generic components' arguments, SST-style: every field of every exported `...Args` interface
 * says what it is, and every optional one what it is when left out (`@default`); no Sofia name in a
 * component's own values (the caller passes its names in). Read with the compiler's own parser.
 */
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { describe, expect, it } from "vitest";

const DIR = path.join(__dirname, "..", "components");
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".ts"));

interface Field {
    where: string;
    optional: boolean;
    doc: string;
}

function argsFields(file: string): Field[] {
    const source = ts.createSourceFile(file, fs.readFileSync(path.join(DIR, file), "utf8"), ts.ScriptTarget.ES2022, true);
    const fields: Field[] = [];
    source.forEachChild((node) => {
        if (!ts.isInterfaceDeclaration(node) || !node.name.text.endsWith("Args")) return;
        if (!node.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) return;
        for (const member of node.members) {
            if (!ts.isPropertySignature(member)) continue;
            const doc = ts.getJSDocCommentsAndTags(member).map((d) => d.getText(source)).join("\n");
            fields.push({ where: `${file} ${node.name.text}.${member.name.getText(source)}`, optional: !!member.questionToken, doc });
        }
    });
    return fields;
}

describe("the generic components' arguments", () => {
    const fields = files.flatMap(argsFields);

    it("are all documented, and every optional one with its @default", () => {
        expect(fields.length).toBeGreaterThan(50);
        expect(fields.filter((f) => !f.doc).map((f) => f.where)).toEqual([]);
        expect(fields.filter((f) => f.optional && !/@default/.test(f.doc)).map((f) => f.where)).toEqual([]);
    });

    it("carry no Sofia name in what the components declare: the caller names things", () => {
        const named = files.flatMap((f) =>
            fs
                .readFileSync(path.join(DIR, f), "utf8")
                .split("\n")
                .map((line, i) => ({ line: line.trim(), at: `${f}:${i + 1}` }))
                // Comments may name the system the component was built for; type tokens are the package's namespace.
                .filter(({ line }) => !/^(\/\/|\*|\/\*\*)/.test(line) && !/super\("sofia:/.test(line))
                .filter(({ line }) => /sofia/i.test(line))
                .map(({ at, line }) => `${at}: ${line.slice(0, 100)}`),
        );
        expect(named).toEqual([]);
    });
});
