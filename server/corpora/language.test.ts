import assert from "node:assert/strict";
import { test } from "node:test";
import { detectLanguage } from "./language.ts";

const samples: Record<string, string> = {
  en: "The history of the city is long, and it was shaped by the river that runs through it from the hills to the sea.",
  de: "Die Geschichte der Stadt ist lang, und sie wurde von dem Fluss geprägt, der durch sie fließt und nicht stillsteht.",
  fr: "L'histoire de la ville est longue, et elle a été façonnée par le fleuve qui la traverse dans les collines pour la mer.",
  es: "La historia de la ciudad es larga, y fue formada por el río que la atraviesa desde las colinas hasta el mar con los barcos.",
  ru: "История города длинная, и она была сформирована рекой, которая течёт через него от холмов к морю, и это не всё.",
  zh: "这座城市的历史很长，它是由从山丘流向大海的河流塑造的。",
  ja: "この都市の歴史は長く、丘から海へ流れる川によって形作られました。",
  ko: "이 도시의 역사는 길고 언덕에서 바다로 흐르는 강에 의해 형성되었습니다.",
};

test("names the language of a paragraph in each script and function-word family", () => {
  for (const [language, text] of Object.entries(samples)) {
    const guess = detectLanguage(text);
    assert.equal(guess.language, language, `${language}: ${JSON.stringify(guess)}`);
    assert.ok(guess.confidence > 0.5, `${language} confidence ${guess.confidence}`);
  }
});

test("too little to go on is undetermined", () => {
  assert.deepEqual(detectLanguage(""), { language: "und", confidence: 0 });
  assert.deepEqual(detectLanguage("12345 67890 !!!"), { language: "und", confidence: 0 });
  assert.equal(detectLanguage("Hello world").language, "und");
  assert.equal(detectLanguage("qwx zzv plk mnb trr").language, "und");
});

test("a mixed text is less sure than a clean one", () => {
  const clean = detectLanguage(samples.en!);
  const mixed = detectLanguage(`${samples.en} ${samples.de}`);
  assert.ok(mixed.confidence < clean.confidence);
});
