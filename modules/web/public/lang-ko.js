// 사용자 페이지의 모든 문구 (한국어). lang-en.js와 같은 키를 가집니다.
// 말투는 합니다체, 사용자는 "회원님". 용어: 대기열(줄), 순번(대기열 안의 자리), 차례(입장해 쿠폰을 받을
// 수 있는 때), 사전 대기열, 입장, 발급. 화면의 버튼 이름은 ‘ ’로 묶습니다.
import { num } from "./format.js";

const people = (n) => `${num(n)}명`;
const coupons = (n) => `쿠폰 ${num(n)}장`;

/**
 * 이름 뒤의 조사 으로/로: 한글로 끝나면 받침으로(ㄹ 받침은 로), 숫자로 끝나면 읽는 소리로(영·삼·육은
 * 으로) 고르고, 그 밖(영문 등)은 ‘(으)로’라고 씁니다.
 */
export function ro(word) {
  const last = String(word).trim().slice(-1);
  const code = last.charCodeAt(0) - 0xac00;
  if (code >= 0 && code <= 11171) return code % 28 === 0 || code % 28 === 8 ? "로" : "으로";
  if (/[0-9]/.test(last)) return "036".includes(last) ? "으로" : "로";
  return "(으)로";
}

export default {
  "lang.name": "한국어",
  "lang.switch": "언어",

  "site.name": "massive coupon",
  "site.organiser": "주최 측",
  "site.signedIn": (user) => `${user}${ro(user)} 로그인됨`,
  "site.logo": (shop) => `${shop} 로고`,
  "site.backToShop": (shop) => `${shop}${ro(shop)} 돌아가기`,

  "switch.title": "계정을 바꿀까요?",
  "switch.text": (from, to) => `이 탭은 ${from}${ro(from)} 로그인되어 있는데, 방금 연 링크는 ${to}의 링크입니다.`,
  "switch.stay": (from) => `${from}${ro(from)} 계속하기`,
  "switch.change": (to) => `${to}${ro(to)} 바꾸기`,
  "switch.unknown": "알 수 없는 계정",

  "status.opens": (when) => `${when} 시작`,
  "status.preQueue": (when) => `사전 대기열 진행 중 · ${when} 시작`,
  "status.open": "진행 중",
  "status.paused": "일시 중지",
  "status.sold_out": "매진",
  "status.closed": "종료",
  "status.cancelled": "취소됨",

  "result.issued": "쿠폰이 발급되었습니다. 이제 회원님의 쿠폰입니다.",
  "result.issuedOnTurn": "쿠폰이 발급되었습니다. 회원님 차례가 되어 자동으로 발급해 드렸습니다.",
  "result.already_issued": "이미 발급됨: 이 이벤트의 쿠폰을 이미 받으셨습니다.",
  "result.sold_out": "매진: 쿠폰이 모두 소진되었습니다.",
  "result.closed": "종료: 이 이벤트는 끝났습니다.",
  "result.paused": "일시 중지: 지금 대기열에 들어가 순번을 받아 둘 수 있습니다.",
  "result.cancelled": "취소됨: 이 이벤트는 열리지 않습니다.",
  "result.not_open": "진행 중 아님: 지금은 이 이벤트에 참여할 수 없습니다.",
  "result.event_not_found": "존재하지 않는 이벤트입니다. 받으신 링크를 확인해 주세요.",
  "result.not_admitted": "아직 차례가 아니거나 차례 시간이 지났습니다. ‘쿠폰 받기’를 눌러 지금 순번을 확인해 주세요.",
  "result.line_full": "대기열이 가득 찼습니다. 이 이벤트가 받을 수 있는 최대 인원이 이미 기다리고 있습니다. 대기열이 줄어들면 자리가 생기니 몇 분 뒤에 다시 시도해 주세요.",
  "result.unauthorized": "로그인 링크가 잘못되었거나 만료되었습니다. 개인 링크를 다시 열어 주세요.",
  "result.no_token": "참여하려면 개인 링크가 필요합니다. 받으신 링크를 열어 주세요.",
  "result.busy": "접속자가 많아 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.",
  "result.rate_limited": "짧은 시간에 너무 여러 번 누르셨습니다. 1초 뒤에 다시 시도해 주세요.",
  "result.outcome_unknown": "쿠폰 발급 여부를 확인하지 못했습니다. 잠시 후 이 페이지를 새로 고쳐 주세요. 쿠폰을 받으셨다면 여기에 표시됩니다.",
  "result.offline": "서버에 연결할 수 없습니다. 인터넷 연결을 확인하고 다시 시도해 주세요.",

  "event.eyebrow": "쿠폰 이벤트",
  "event.loading": "이벤트를 불러오는 중…",
  "event.notFound": "이벤트를 찾을 수 없음",
  "event.stockHeading": "남은 쿠폰",
  "event.stockLine": () => "쿠폰 {stock}장 중 {remaining}장 남음",
  "event.getCoupon": "쿠폰 받기",
  "event.joinPreQueue": "사전 대기열 참여",
  "event.joining": "사전 대기열에 참여하는 중…",
  "event.getting": "쿠폰을 받는 중…",
  "event.countdownBoth": (opens, starts) => `사전 대기열이 열리기까지 ${opens} · 시작까지 ${starts}`,
  "event.countdownStart": (starts) => `시작까지 ${starts}`,
  "event.preNote": (opens, starts) =>
    `${opens}부터 시작 전까지 사전 대기열에 참여할 수 있습니다. ${starts}에 사전 대기열에 있는 모든 분의 순번을 무작위 추첨으로 정하며, 이분들은 그 뒤에 오는 사람보다 앞에 섭니다. 일찍 참여하거나 서버 가까이에서 접속해도 유리하지 않습니다.`,
  "event.notYet": (when) => `아직 시작 전입니다. 이벤트는 ${when}에 시작합니다.`,
  "event.notYetPre": (when) => `아직 시작 전입니다. 사전 대기열은 ${when}에 열립니다.`,
  "event.preOpen": "사전 대기열이 열렸습니다. ‘사전 대기열 참여’를 눌러 주세요.",
  "event.openNow": "지금 진행 중입니다. ‘쿠폰 받기’를 눌러 주세요.",
  "event.notice": (who, message) => `${who}의 안내: ${message}`,
  "event.onTurnNote": "이 이벤트는 회원님 차례가 되면 페이지를 닫아 두어도 쿠폰이 자동으로 발급됩니다.",
  "event.yourTurn": (until) => `회원님 차례입니다! ${until}까지 ‘쿠폰 받기’를 눌러 주세요.`,
  "event.turnAgain": (lapsedAt, until) => `쿠폰을 받기 전에 차례 시간이 ${lapsedAt}에 끝났지만 맨 앞 순번은 그대로 남아 있어, 다시 회원님 차례가 되었습니다. ${until}까지 ‘쿠폰 받기’를 눌러 주세요.`,
  "event.slotLeft": (left) => `회원님 차례입니다: ${left} 안에 ‘쿠폰 받기’를 눌러 주세요`,
  "event.lapsed": (at) => `쿠폰을 받기 전에 차례 시간이 ${at}에 끝났습니다. ‘차례 다시 받기’를 눌러 맨 앞 순번이 아직 회원님 것인지 확인해 주세요.`,
  "event.takeBack": "차례 다시 받기",
  "event.placeGone": "순번이 없어졌습니다. 이 페이지를 떠나 있는 동안 대기열이 지나갔습니다. 대기열 맨 뒤에 다시 설 수 있습니다.",
  "event.rejoin": "대기열에 다시 들어가기",
  "event.stale": (ago, at) => `연결 끊김: 서버 응답을 마지막으로 받은 지 ${num(ago)}초 지났습니다(${at}). 표시된 수량은 그때 기준입니다.`,
  "event.codeHeading": "내 쿠폰 코드",
  "event.copy": "코드 복사",
  "event.copied": "클립보드에 복사했습니다.",
  "event.selected": "코드를 선택했습니다. 키보드나 메뉴로 복사해 주세요.",
  "event.validUntil": (date, zone) => `${date}까지 사용 가능 (${zone})`,
  "event.noExpiry": "사용 기한이 없습니다.",
  "event.useAtShop": (shop) => `${shop}에서 사용하기`,

  "wait.eyebrow": "대기실",
  "wait.title": (name) => `대기실: ${name}`,
  "wait.inLine": "대기 중입니다",
  "wait.inPre": "사전 대기열에 들어와 있습니다",
  "wait.drawing": "순번 추첨 중",
  "wait.drawingText": "이벤트가 시작되어 사전 대기열에 있는 모든 분의 순번을 무작위로 추첨하고 있습니다. 이분들은 그 뒤에 오는 사람보다 앞에 섭니다. 곧 여기에 순번이 표시됩니다.",
  "wait.drawingShort": "추첨 중…",
  "wait.preText": (starts) => `이벤트는 ${starts}에 시작합니다. 그때 사전 대기열에 있는 모든 분의 순번을 무작위 추첨으로 정하며, 이분들은 그 뒤에 오는 사람보다 앞에 섭니다. 언제 참여했는지는 순번과 관계없습니다.`,
  "wait.preChances": (remaining, preQueued) => `${coupons(remaining)} · 사전 대기열 ${people(preQueued)}`,
  "wait.preTooMany": "쿠폰보다 사람이 많아 모두 받지는 못합니다.",
  "wait.keepOpen": "이 페이지를 열어 두세요. 차례가 되면 자동으로 이벤트 페이지로 이동합니다.",
  "wait.keepOpenOnTurn": "차례가 되면 이 페이지를 닫아 두어도 쿠폰이 자동으로 발급됩니다. 발급된 쿠폰은 이 페이지나 이벤트 페이지에서 확인할 수 있습니다.",
  "wait.placeLabel": "내 대기 순번",
  "wait.number": "순번 ",
  "wait.progress": "맨 앞까지 진행 상황",
  "wait.progressText": (n) => `내 앞 대기 인원 ${people(n)}`,
  "wait.etaLabel": "예상 대기 시간:",
  "wait.eta": (s) =>
    s === null || s === undefined
      ? "알 수 없음(한동안 입장한 사람이 없습니다)"
      : s < 1
        ? "곧 차례입니다"
        : s < 90
          ? `약 ${num(Math.max(1, Math.round(s)))}초`
          : `약 ${num(Math.round(s / 60))}분`,
  "wait.etaPaused": "일시 중지 중이라 알 수 없음",
  "wait.etaSoldOutFirst": "그때까지 쿠폰이 남아 있지 않을 가능성이 높습니다",
  "wait.chances": (remaining, ahead) => `${coupons(remaining)} 남음 · 내 앞에 ${people(ahead)}`,
  "wait.oddsLikely": (ahead, remaining) =>
    `차례가 오기 전에 매진될 가능성이 매우 높습니다. 남은 쿠폰은 ${num(remaining)}장인데 내 앞에 ${people(ahead)}이 있습니다. 쿠폰을 받지 않는 분이 있을 수 있으니 계속 기다리셔도 되고, 지금 나가셔도 됩니다.`,
  "wait.grace": (d) => `최대 ${d} 동안 이 페이지를 떠나 있어도 순번이 유지됩니다.`,
  "wait.graceNever": "이 페이지를 닫아도 됩니다. 차례가 올 때까지 순번이 유지됩니다.",
  "wait.paused": "일시 중지: 이벤트가 다시 진행될 때까지 아무도 입장하지 않습니다. 순번은 그대로 유지됩니다.",
  "wait.lapsed": (at) => `이 페이지를 떠나 있는 동안 차례가 왔다가 ${at}에 끝났습니다. 맨 앞 순번은 그대로 유지되며, 자리가 나는 대로 다시 차례가 옵니다.`,
  "wait.staleOffline": (ago, at) => `연결 끊김: 서버 응답을 마지막으로 받은 지 ${num(ago)}초 지났습니다(${at}). 아래 숫자는 그때 기준입니다.`,
  "wait.staleServer": (ago, at) => `서버 응답 없음: 마지막 응답은 ${num(ago)}초 전입니다(${at}). 아래 숫자는 그때 기준입니다.`,
  "wait.asOf": (at) => `${at} 기준`,
  "wait.keptFor": (left) => `순번은 앞으로 ${left} 동안 유지됩니다. 이 페이지는 계속 다시 연결을 시도합니다.`,
  "wait.keptGone": (d) => `서버가 ${d} 넘게 이 페이지와 연결되지 않아 순번이 취소되었을 수 있습니다. 이 페이지는 계속 다시 연결을 시도합니다.`,
  "wait.keptNever": "순번은 유지됩니다. 이 대기열에서는 페이지를 떠나 있어도 순번이 취소되지 않습니다. 이 페이지는 계속 다시 연결을 시도합니다.",
  "wait.leave": "대기열에서 나가기",
  "wait.leavePre": "사전 대기열에서 나가기",
  "wait.confirmLine": (position) => `대기열에서 나갈까요? 대기 순번 ${num(position)}번을 포기하게 됩니다. 나중에 다시 오시면 맨 뒤에 서게 됩니다.`,
  "wait.confirmPre": "사전 대기열에서 나갈까요? 추첨 기회를 포기하게 됩니다. 나중에 다시 오시면 맨 뒤에 서게 됩니다.",
  "wait.confirmYes": "네, 나가겠습니다",
  "wait.confirmYesPre": "네, 사전 대기열에서 나가겠습니다",
  "wait.confirmNo": "계속 기다리기",
  "wait.rejoin": "대기열에 다시 들어가기",
  "wait.join": "대기열에 들어가기",
  "wait.back": "이벤트로 돌아가기",
  "wait.rejoined": (position) => `대기열에 다시 들어왔습니다. 대기 순번은 ${num(position)}번입니다.`,
  "wait.rejoinedPre": "사전 대기열에 다시 들어왔습니다.",
  "wait.yourTurn": "회원님 차례입니다! 이벤트 페이지로 이동합니다…",
  "wait.issued": "차례가 되어 쿠폰이 발급되었습니다. 쿠폰 화면으로 이동합니다…",
  "wait.notInLine": "대기열에 없습니다",
  "wait.notInLineText": "이 이벤트의 대기열에 들어와 있지 않습니다. 지금 들어가면 맨 뒤에 서게 됩니다.",
  "wait.lost": "순번이 취소되었습니다",
  "wait.lostSilent": (grace, away) => `이 페이지를 약 ${away} 동안 떠나 있어 서버가 ${grace} 넘게 연결을 확인하지 못했고, 그사이 차례가 지나가 순번이 취소되었습니다.`,
  "wait.lostOther": "다른 탭이나 창에서 대기열을 나갔거나, 이 페이지를 떠나 있는 동안 차례가 왔다가 끝나 순번이 취소되었습니다.",
  "wait.joinAgainBack": "대기열 맨 뒤에 다시 설 수 있습니다.",
  "wait.soldOut": "매진",
  "wait.soldOutText": "매진: 쿠폰이 모두 소진되었습니다. 죄송합니다.",
  "wait.closed": "이벤트 종료",
  "wait.closedText": "종료: 이 이벤트는 더 이상 진행되지 않습니다.",
  "wait.cancelled": "이벤트 취소",
  "wait.lineFull": "대기열이 가득 참",
  "wait.haveIt": "이미 쿠폰을 받으셨습니다",
  "wait.notFound": "이벤트를 찾을 수 없음",
  "wait.signIn": "로그인 필요",

  "botgate.checking": "자동 입력 방지 확인 중…",
  "botgate.progress": (pct) => `자동 입력 방지 확인 중… ${pct}%`,
  "botgate.label": "자동 입력 방지 확인 진행률",
  "result.bot_check_failed": "자동 입력 방지 확인이 제시간에 끝나지 않았습니다. ‘쿠폰 받기’를 다시 눌러 주세요.",

  "notFound.title": "페이지를 찾을 수 없음",
  "notFound.text": "존재하지 않는 페이지입니다. 받으신 링크를 확인해 주세요.",
};
